# The user-code image: serves the code location (`dagster code-server start`) and is the image
# every run is launched in (its own container or pod). The webserver and the daemon run from it
# too in docker-compose.yaml, so that all services share one Dagster version.
#
#   docker build -t rowcount-monitor:0.1.0 .
#   docker build --secret id=warehouse,src=warehouse.env --build-arg DISCOVER=1 -t rowcount-monitor:0.1.0 .
FROM python:3.11-slim

WORKDIR /opt/rowcount-monitor
ENV PYTHONUNBUFFERED=1 DAGSTER_HOME=/opt/dagster/home
COPY pyproject.toml uv.lock README.md ./
COPY rowcount_monitor ./rowcount_monitor
# The versions of uv.lock (what the tests ran on), with the `prod` extra (dbt-snowflake, the dbt
# project's prod target) and without the test tools.
RUN pip install --no-cache-dir "uv==0.13.9" \
 && uv export --locked --extra prod --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps . \
 && mkdir -p "$DAGSTER_HOME"
COPY definitions.py rowcount_monitor.yaml ./
COPY dbt_project ./dbt_project
COPY deploy/dagster.yaml deploy/workspace.yaml "$DAGSTER_HOME"/

# The dbt manifest is parsed at build time, so the code location never runs dbt when it loads.
RUN dbt parse --project-dir dbt_project --profiles-dir dbt_project --target prod
# With DISCOVER=1 the table catalog (columns and first loads of every monitored table) is built
# at build time too, from a warehouse credentials file passed as a build secret (never a layer):
# the code location then loads without a single warehouse query.
ARG DISCOVER=0
RUN --mount=type=secret,id=warehouse,required=false \
    if [ "$DISCOVER" = 1 ]; then set -a && . /run/secrets/warehouse && set +a && rowcount-monitor discover; fi

EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-f", "definitions.py", \
     "--location-name", "rowcount_monitor"]
