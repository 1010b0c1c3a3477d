{{ config(materialized='incremental', unique_key='day') }}

-- Revenue per day. Incremental: each run recomputes the newest day already in the table
-- (it may have been partial) and everything after it.
select
    date_trunc('day', ordered_at) as day,
    count(*) as orders,
    sum(amount) as revenue
from {{ ref('stg_orders') }}
where ordered_at < now()::timestamp
{% if is_incremental() %}
  and ordered_at >= (select coalesce(max(day), '1900-01-01'::timestamp) from {{ this }})
{% endif %}
group by 1
