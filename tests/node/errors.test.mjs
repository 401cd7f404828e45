// amqplib: channel errors. A 404/406 closes the channel (the promise rejects, the channel emits
// 'error' then 'close'); the connection and its other channels go on.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TEST_TIMEOUT, connect, once, uniq } from './helpers.mjs';

async function expectChannelError(ch, operation, code, text) {
  const errorEvent = once(ch, 'error');
  const closeEvent = once(ch, 'close');
  await assert.rejects(operation, (err) => {
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(text), `${err.message} should include ${text}`);
    return true;
  });
  const [err] = await errorEvent;
  assert.equal(err.code, code);
  assert.ok(err.message.includes(text), err.message);
  await closeEvent;
}

test('checkQueue/checkExchange on something missing: 404 NOT_FOUND closes the channel only', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const connErrors = [];
  conn.on('error', (err) => connErrors.push(err));
  const q = uniq('missing-q');
  const ch1 = await conn.createChannel();
  await expectChannelError(ch1, ch1.checkQueue(q), 404, `NOT_FOUND - no queue '${q}' in vhost '/'`);
  await assert.rejects(ch1.checkQueue(q), /Channel closed/);

  const x = uniq('missing-x');
  const ch2 = await conn.createChannel();
  await expectChannelError(ch2, ch2.checkExchange(x), 404, `NOT_FOUND - no exchange '${x}' in vhost '/'`);

  // binding to a missing exchange, publishing to one
  const ch3 = await conn.createChannel();
  const own = (await ch3.assertQueue('', { exclusive: true })).queue;
  await expectChannelError(ch3, ch3.bindQueue(own, x, 'rk'), 404, `NOT_FOUND - no exchange '${x}' in vhost '/'`);
  const ch4 = await conn.createChannel();
  const errorEvent = once(ch4, 'error');
  ch4.publish(x, 'rk', Buffer.from('x'));
  const [pubErr] = await errorEvent;
  assert.equal(pubErr.code, 404);
  assert.ok(pubErr.message.includes(`NOT_FOUND - no exchange '${x}' in vhost '/'`), pubErr.message);

  // the connection is fine
  const ok = await conn.createChannel();
  assert.equal((await ok.checkQueue(own)).queue, own);
  assert.deepEqual(connErrors, []);
});

test('assertQueue with other arguments than the existing queue: 406 PRECONDITION_FAILED', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  const q = (await ch.assertQueue(uniq('args'), { exclusive: true, messageTtl: 60000 })).queue;
  // the same assertion again is fine (rascal asserts its topology at every start)
  assert.equal((await ch.assertQueue(q, { exclusive: true, messageTtl: 60000 })).queue, q);
  await expectChannelError(ch, ch.assertQueue(q, { exclusive: true, messageTtl: 1000 }), 406,
    `PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '${q}' in vhost '/': received '1000' but current is '60000'`);

  const x = uniq('kind');
  const ch2 = await conn.createChannel();
  await ch2.assertExchange(x, 'topic', { autoDelete: true });
  await expectChannelError(ch2, ch2.assertExchange(x, 'fanout', { autoDelete: true }), 406,
    `PRECONDITION_FAILED - inequivalent arg 'type' for exchange '${x}' in vhost '/': received 'fanout' but current is 'topic'`);
});

test('acking an unknown delivery tag: 406 PRECONDITION_FAILED - unknown delivery tag', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  const errorEvent = once(ch, 'error');
  ch.ack({ fields: { deliveryTag: 7 } });
  const [err] = await errorEvent;
  assert.equal(err.code, 406);
  assert.ok(err.message.includes('PRECONDITION_FAILED - unknown delivery tag 7'), err.message);
});
