select id as order_item_id, quantity, loaded_at
from {{ source('raw', 'order_items') }}
