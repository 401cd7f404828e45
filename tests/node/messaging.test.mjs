// amqplib: topology, publish/consume/ack/nack, prefetch, confirms, mandatory returns.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Inbox, TEST_TIMEOUT, connect, once, sleep, uniq, waitFor } from './helpers.mjs';

test('assertExchange/assertQueue/bindQueue, publish, consume, ack: fields and properties round-trip', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  const x = uniq('direct');
  assert.deepEqual(await ch.assertExchange(x, 'direct', { durable: false, autoDelete: true }), { exchange: x });
  const q = uniq('q');
  const ok = await ch.assertQueue(q, { exclusive: true });
  assert.deepEqual(ok, { queue: q, messageCount: 0, consumerCount: 0 });
  assert.deepEqual(await ch.bindQueue(q, x, 'rk'), {});

  const inbox = await Inbox.consume(ch, q);
  assert.match(inbox.consumerTag, /^amq\.ctag-[A-Za-z0-9_-]{22}$/);

  const headers = { s: 'text', n: 42, neg: -7, big: 2 ** 40, f: 1.5, yes: true, nested: { a: 'b' }, list: ['x', 1] };
  const timestamp = Math.floor(Date.now() / 1000);
  const options = {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers,
    persistent: true,
    priority: 3,
    correlationId: 'corr-1',
    replyTo: 'reply-here',
    expiration: '60000',
    messageId: 'msg-1',
    timestamp,
    type: 'my.type',
    appId: 'warren-node-test',
  };
  assert.equal(ch.publish(x, 'rk', Buffer.from('{"hello":"wörld"}'), options), true);
  assert.equal(ch.publish(x, 'other-rk', Buffer.from('unroutable, dropped')), true);
  ch.publish(x, 'rk', Buffer.alloc(0));
  const big = Buffer.alloc(300_000, 'z'); // several body frames at frameMax 131072
  ch.publish(x, 'rk', big);

  const m1 = await inbox.next();
  assert.equal(m1.content.toString(), '{"hello":"wörld"}');
  assert.equal(m1.fields.consumerTag, inbox.consumerTag);
  assert.equal(m1.fields.deliveryTag, 1);
  assert.equal(m1.fields.redelivered, false);
  assert.equal(m1.fields.exchange, x);
  assert.equal(m1.fields.routingKey, 'rk');
  const p = m1.properties;
  assert.equal(p.contentType, 'application/json');
  assert.equal(p.contentEncoding, 'utf-8');
  assert.deepEqual(p.headers, headers);
  assert.equal(p.deliveryMode, 2);
  assert.equal(p.priority, 3);
  assert.equal(p.correlationId, 'corr-1');
  assert.equal(p.replyTo, 'reply-here');
  assert.equal(p.expiration, '60000');
  assert.equal(p.messageId, 'msg-1');
  assert.equal(p.timestamp, timestamp);
  assert.equal(p.type, 'my.type');
  assert.equal(p.appId, 'warren-node-test');
  assert.equal(p.userId, undefined);
  ch.ack(m1);

  const m2 = await inbox.next();
  assert.equal(m2.content.length, 0);
  assert.equal(m2.fields.deliveryTag, 2);
  assert.deepEqual(m2.properties.headers, {}); // amqplib always sends a (here empty) table
  assert.equal(m2.properties.deliveryMode, undefined);
  const m3 = await inbox.next();
  assert.equal(m3.fields.deliveryTag, 3);
  assert.ok(m3.content.equals(big), `big body: ${m3.content.length} bytes`);
  ch.ack(m3, true); // multiple: acks 2 and 3

  await ch.cancel(inbox.consumerTag);
  // everything acked: nothing ready, nothing unacked (the channel's close would requeue it)
  await ch.close();
  const ch2 = await conn.createChannel();
  const after = await waitFor(async () => {
    const r = await ch2.checkQueue(q);
    return r.messageCount === 0 && r;
  }, 'queue to be empty');
  assert.deepEqual(after, { queue: q, messageCount: 0, consumerCount: 0 });
  assert.equal(await ch2.get(q), false);
});

test('nack: requeue redelivers with redelivered=true; requeue=false dead-letters with x-death', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  const dlx = uniq('dlx');
  await ch.assertExchange(dlx, 'fanout', { durable: false, autoDelete: true });
  const dlq = (await ch.assertQueue(uniq('dlq'), { exclusive: true })).queue;
  await ch.bindQueue(dlq, dlx, '');
  const q = (await ch.assertQueue(uniq('work'), { exclusive: true, deadLetterExchange: dlx })).queue;

  const inbox = await Inbox.consume(ch, q);
  ch.sendToQueue(q, Buffer.from('job'), { messageId: 'job-1' });
  const first = await inbox.next();
  assert.equal(first.fields.redelivered, false);
  ch.nack(first, false, true); // requeue
  const again = await inbox.next();
  assert.equal(again.content.toString(), 'job');
  assert.equal(again.fields.redelivered, true);
  assert.ok(again.fields.deliveryTag > first.fields.deliveryTag);
  ch.nack(again, false, false); // reject without requeue: to the dead-letter exchange

  const dead = await waitFor(() => ch.get(dlq, { noAck: true }), 'the dead-lettered message');
  assert.equal(dead.content.toString(), 'job');
  assert.equal(dead.properties.messageId, 'job-1');
  assert.equal(dead.fields.exchange, dlx);
  assert.equal(dead.fields.routingKey, q);
  const [death] = dead.properties.headers['x-death'];
  assert.equal(death.count, 1);
  assert.equal(death.reason, 'rejected');
  assert.equal(death.queue, q);
  assert.equal(death.exchange, '');
  assert.deepEqual(death['routing-keys'], [q]);
  assert.equal(dead.properties.headers['x-first-death-reason'], 'rejected');
  assert.equal(dead.properties.headers['x-first-death-queue'], q);
  // and nothing is left in the work queue
  assert.equal((await ch.checkQueue(q)).messageCount, 0);
});

test('prefetch: at most N unacked deliveries per consumer; each ack lets one more through', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  await ch.prefetch(2);
  const q = (await ch.assertQueue(uniq('prefetch'), { exclusive: true })).queue;
  const pub = await conn.createChannel();
  for (let i = 0; i < 5; i++) pub.sendToQueue(q, Buffer.from(String(i)));
  const inbox = await Inbox.consume(ch, q);
  await inbox.until(() => inbox.messages.length >= 2, 'two deliveries');
  await sleep(300);
  assert.deepEqual(inbox.messages.map((m) => m.content.toString()), ['0', '1']);
  const ready = await waitFor(async () => {
    const r = await pub.checkQueue(q);
    return r.messageCount === 3 && r;
  }, '3 ready messages');
  assert.equal(ready.consumerCount, 1);

  ch.ack(inbox.messages[0]);
  await inbox.until(() => inbox.messages.length >= 3, 'a third delivery');
  await sleep(200);
  assert.equal(inbox.messages.length, 3);
  ch.ack(inbox.messages[2], true); // multiple: 2 and 3
  await inbox.until(() => inbox.messages.length >= 5, 'the last two');
  assert.deepEqual(inbox.messages.map((m) => m.content.toString()), ['0', '1', '2', '3', '4']);
  ch.ackAll();
});

test('confirm channel: every publish is confirmed, waitForConfirms resolves', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createConfirmChannel();
  const q = (await ch.assertQueue(uniq('confirm'), { exclusive: true })).queue;
  const x = uniq('fan');
  await ch.assertExchange(x, 'fanout', { autoDelete: true });
  await ch.bindQueue(q, x, '');
  const acks = [];
  const N = 200;
  for (let i = 0; i < N; i++) {
    ch.publish(x, '', Buffer.from(`m${i}`), { persistent: i % 2 === 0 }, (err) => acks.push([i, err]));
  }
  ch.sendToQueue(q, Buffer.from('direct'), {}, (err) => acks.push(['direct', err]));
  // unroutable (no mandatory): still confirmed
  ch.publish('', uniq('nowhere'), Buffer.from('lost'), {}, (err) => acks.push(['lost', err]));
  await ch.waitForConfirms();
  assert.equal(acks.length, N + 2);
  assert.deepEqual(acks.filter(([, err]) => err !== null && err !== undefined), []);
  // one callback per publish; not necessarily in publish order: RabbitMQ confirms an unroutable
  // message at once, possibly before earlier routed ones
  const ids = acks.map(([i]) => String(i)).sort();
  assert.deepEqual(ids, [...[...Array(N).keys()].map(String), 'direct', 'lost'].sort());
  const r = await waitFor(async () => {
    const s = await ch.checkQueue(q);
    return s.messageCount === N + 1 && s;
  }, `${N + 1} messages`);
  assert.equal(r.messageCount, N + 1);
});

test('mandatory: an unroutable message comes back in a return event, before its confirm', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createConfirmChannel();
  const x = uniq('mand');
  await ch.assertExchange(x, 'direct', { autoDelete: true });
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  await ch.bindQueue(q, x, 'bound');

  const events = [];
  ch.on('return', (msg) => events.push(['return', msg]));
  const returned = once(ch, 'return');
  ch.publish(x, 'unbound', Buffer.from('bounce'), { mandatory: true, messageId: 'm-1', headers: { k: 'v' } },
    (err) => events.push(['ack', err]));
  ch.publish(x, 'bound', Buffer.from('routed'), { mandatory: true }, (err) => events.push(['ack', err]));
  await ch.waitForConfirms();
  const [msg] = await returned;
  assert.equal(msg.content.toString(), 'bounce');
  assert.equal(msg.fields.replyCode, 312);
  assert.equal(msg.fields.replyText, 'NO_ROUTE');
  assert.equal(msg.fields.exchange, x);
  assert.equal(msg.fields.routingKey, 'unbound');
  assert.equal(msg.properties.messageId, 'm-1');
  assert.deepEqual(msg.properties.headers, { k: 'v' });
  assert.deepEqual(events.map(([kind, v]) => (kind === 'ack' ? ['ack', v ?? null] : [kind])), [
    ['return'], ['ack', null], ['ack', null],
  ]);
  const got = await waitFor(() => ch.get(q, { noAck: true }), 'the routed message');
  assert.equal(got.content.toString(), 'routed');

  // without a confirm channel too; and to the default exchange with no such queue
  const plain = await conn.createChannel();
  const back = once(plain, 'return');
  const nowhere = uniq('nowhere');
  plain.sendToQueue(nowhere, Buffer.from('to nowhere'), { mandatory: true });
  const [m2] = await back;
  assert.equal(m2.fields.replyCode, 312);
  assert.equal(m2.fields.exchange, '');
  assert.equal(m2.fields.routingKey, nowhere);
});

test('consumer cancel notification: deleting the queue calls the consumer with null', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  const q = (await ch.assertQueue(uniq('cancelled'), { autoDelete: false })).queue;
  const inbox = await Inbox.consume(ch, q);
  const other = await conn.createChannel();
  assert.deepEqual(await other.deleteQueue(q), { messageCount: 0 });
  await inbox.until(() => inbox.cancelled, 'basic.cancel from the broker');
  // the channel stays open
  assert.equal((await ch.assertQueue('', { exclusive: true })).messageCount, 0);
});
