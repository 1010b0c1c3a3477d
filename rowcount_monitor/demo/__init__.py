"""The demo shop (its DuckDB warehouse, `rowcount-monitor demo`, a local SNS topic to watch
alerts arrive): part of the repository, not of the built wheel (pyproject.toml leaves this
package out), so a project that installs rowcount-monitor gets none of it."""
