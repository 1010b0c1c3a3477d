select id as cart_event_id, action, loaded_at as happened_at
from {{ source('raw', 'cart_events') }}
