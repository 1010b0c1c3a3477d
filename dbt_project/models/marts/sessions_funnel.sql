-- Per day: sessions, cart additions and orders, and the share of sessions that ordered.
with sessions as (
    select date_trunc('day', started_at) as day, count(*) as sessions
    from {{ ref('stg_sessions') }} where started_at < now()::timestamp group by 1
), carts as (
    select date_trunc('day', happened_at) as day, count(*) as cart_adds
    from {{ ref('stg_cart_events') }} where action = 'add' and happened_at < now()::timestamp group by 1
), orders as (
    select date_trunc('day', ordered_at) as day, count(*) as orders
    from {{ ref('stg_orders') }} where ordered_at < now()::timestamp group by 1
)
select
    sessions.day,
    sessions.sessions,
    coalesce(carts.cart_adds, 0) as cart_adds,
    coalesce(orders.orders, 0) as orders,
    coalesce(orders.orders, 0) / sessions.sessions as order_rate
from sessions
left join carts using (day)
left join orders using (day)
