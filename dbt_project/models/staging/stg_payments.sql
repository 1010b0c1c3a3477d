select id as payment_id, method, loaded_at as paid_at
from {{ source('raw', 'payments') }}
