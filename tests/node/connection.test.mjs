// amqplib: connecting, negotiation, closing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqp from 'amqplib';
import { TEST_TIMEOUT, URL, connect, once, uniq, waitFor } from './helpers.mjs';

const CAPABILITIES = [
  'publisher_confirms',
  'exchange_exchange_bindings',
  'basic.nack',
  'consumer_cancel_notify',
  'connection.blocked',
  'consumer_priorities',
  'authentication_failure_close',
  'per_consumer_qos',
  'direct_reply_to',
];

test('connect: server properties and tuning as RabbitMQ gives them to amqplib', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const c = conn.connection;
  const props = c.serverProperties;
  for (const cap of CAPABILITIES) {
    assert.equal(props.capabilities[cap], true, `capability ${cap}: ${JSON.stringify(props.capabilities)}`);
  }
  for (const key of ['product', 'version', 'platform']) {
    assert.equal(typeof props[key], 'string', `${key} is a longstr`);
    assert.ok(props[key].length > 0, key);
  }
  // amqplib asks frameMax 131072 and takes the server's heartbeat when it states none.
  assert.equal(c.frameMax, 131072);
  assert.equal(c.heartbeat, 60);
  assert.ok(c.channelMax >= 2047, `channelMax ${c.channelMax}`);
  // and the connection works
  const ch = await conn.createChannel();
  const ok = await ch.assertQueue('', { exclusive: true });
  assert.equal(ok.messageCount, 0);
  assert.equal(ok.consumerCount, 0);
});

test('connect: wrong password is refused with ACCESS_REFUSED', { timeout: TEST_TIMEOUT }, async () => {
  const bad = new globalThis.URL(URL);
  bad.password = 'not-the-password';
  await assert.rejects(amqp.connect(bad.toString()), (err) => {
    assert.match(err.message, /ACCESS_REFUSED/);
    return true;
  });
});

test('connection close: close() resolves, emits close without error, drops exclusive queues', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await amqp.connect(URL);
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  const errors = [];
  conn.on('error', (err) => errors.push(err));
  const closed = once(conn, 'close');
  const chClosed = once(ch, 'close');
  await conn.close();
  const [err] = await closed;
  await chClosed;
  assert.equal(err, undefined, 'a client-initiated close is not an error');
  assert.deepEqual(errors, []);
  await assert.rejects(conn.createChannel(), /Connection closed/);

  // the exclusive queue went with its connection
  const other = await connect(t);
  await waitFor(async () => {
    const probe = await other.createChannel();
    probe.on('error', () => {});
    try {
      await probe.checkQueue(queue);
      await probe.close();
      return false;
    } catch (e) {
      assert.equal(e.code, 404);
      return true;
    }
  }, `${queue} to be deleted`);
});

test('channel close: closing one channel leaves the connection and its other channels working', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const a = await conn.createChannel();
  const b = await conn.createChannel();
  const q = (await b.assertQueue(uniq('chclose'), { exclusive: true })).queue;
  await a.close();
  await assert.rejects(a.checkQueue(q), /Channel closed/);
  b.sendToQueue(q, Buffer.from('still here'));
  const msg = await waitFor(() => b.get(q, { noAck: true }), 'a message');
  assert.equal(msg.content.toString(), 'still here');
});
