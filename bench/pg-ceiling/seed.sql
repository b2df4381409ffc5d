-- The tables W3P writes, as bench/run.sh prepares them: 64 enabled partners, each with 10 mapped customers.
INSERT INTO tenants (vendor_tenant_id, acronis_tenant_id, kind, enablement_method, state,
                     partner_acronis_tenant_id, name, created_at, updated_at)
SELECT 'p' || g, 'ap' || g, 'partner', 'mirrored', 'enabled', NULL, 'Partner ' || g, now(), now()
FROM generate_series(0, 63) g;
INSERT INTO tenants (vendor_tenant_id, acronis_tenant_id, kind, enablement_method, state,
                     partner_acronis_tenant_id, name, created_at, updated_at)
SELECT 'c' || p || '_' || i, md5(random()::text), 'customer', 'mapped', 'enabled', 'ap' || p,
       'Customer ' || p || '_' || i, now(), now()
FROM generate_series(0, 63) p, generate_series(0, 9) i;
ANALYZE;
