-- the customers who ordered that day
select distinct customer_id from {{ ref('daily_orders') }}
