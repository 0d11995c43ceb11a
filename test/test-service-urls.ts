/**
 * Where the tests reach the NATS and PostgreSQL test servers: scripts/with-test-services.ts
 * sets these variables; without it, the usual local ports.
 */
export const NATS_URL = process.env.WRIT_TEST_NATS ?? 'nats://127.0.0.1:4222';
export const PG_URL = process.env.WRIT_TEST_PG ?? 'postgres://root@127.0.0.1:5432/test';
