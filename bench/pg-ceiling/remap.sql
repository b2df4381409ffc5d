-- The least PostgreSQL must do for one W3P request (a 10-pair tenant_mapping.write), in one transaction:
-- the idempotency row, the partner's lock, the ten customers' new Acronis tenants (indexed, so no HOT
-- update) and their ten outbox events with snapshots of about the service's size. None of the service's
-- reads, no sequencer, no read-model refresh: an upper bound for W3P on the same server.
\set p :client_id % 64
BEGIN;
INSERT INTO callback_requests (request_id, request_hash, response_id, outcome_json, created_at)
  VALUES (md5(random()::text), 'h', md5(random()::text), 'null', now()) ON CONFLICT (request_id) DO NOTHING;
SELECT id FROM tenants WHERE acronis_tenant_id = 'ap' || :p FOR UPDATE;
UPDATE tenants SET acronis_tenant_id = md5(random()::text), updated_at = now()
  WHERE partner_acronis_tenant_id = 'ap' || :p AND kind = 'customer';
INSERT INTO tenant_events (kind, vendor_tenant_id, acronis_tenant_id, occurred_at, snapshot_json)
  SELECT 'customer_mapped', 'c' || :p || '_' || i, md5(random()::text), now(), repeat('x', 420)
  FROM generate_series(0, 9) i;
COMMIT;
