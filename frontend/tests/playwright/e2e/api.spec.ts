// The backend through nginx, without a page: /api/status answers JSON with
// redis's PONG, and each call counts a visit.
import { test, expect } from '@playwright/test';

test('the API answers through nginx, and counts visits in redis', async ({ request }) => {
  const first = await request.get('/api/status');
  expect(first.status()).toBe(200);
  const before = await first.json();
  expect(before).toMatchObject({ service: 'backend', redis: 'PONG' });

  const after = await (await request.get('/api/status')).json();
  expect(after.visits).toBeGreaterThan(before.visits);
});
