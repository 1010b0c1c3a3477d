select id as session_id, device, loaded_at as started_at
from {{ source('raw', 'sessions') }}
