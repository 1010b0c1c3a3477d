select id as order_id, customer_id, amount, loaded_at as ordered_at
from {{ source('raw', 'orders') }}
