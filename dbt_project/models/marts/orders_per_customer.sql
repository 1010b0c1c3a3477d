select
    customer_id,
    count(*) as orders,
    sum(amount) as revenue,
    min(ordered_at) as first_order_at,
    max(ordered_at) as last_order_at
from {{ ref('stg_orders') }}
where ordered_at < now()::timestamp
group by 1
