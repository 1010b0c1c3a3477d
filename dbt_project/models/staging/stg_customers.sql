select id as customer_id, country, loaded_at as signed_up_at
from {{ source('raw', 'customers') }}
