-- the orders of one day (dbt var `day`, the Dagster partition)
{{ config(tags=["monitored"]) }}
select * from {{ source('shop', 'orders') }}
where cast(ordered_at as date) = cast('{{ var("day", "2026-10-01") }}' as date)
