// amqplib: server-named queues, direct reply-to RPC, and Wazo's exchanges (xivo topic,
// wazo-headers headers) as a Node.js consumer of the Wazo bus uses them.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Inbox, REPLY_TO, TEST_TIMEOUT, callCreated, connect, uniq, waitFor } from './helpers.mjs';

test('server-named queue: amq.gen-… name, usable at once, exclusive to its connection', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  const ok = await ch.assertQueue('', { exclusive: true });
  assert.match(ok.queue, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
  assert.equal(ok.messageCount, 0);
  const second = await ch.assertQueue('', { exclusive: true });
  assert.notEqual(second.queue, ok.queue);
  ch.sendToQueue(ok.queue, Buffer.from('to myself'));
  const msg = await waitFor(() => ch.get(ok.queue, { noAck: true }), 'a message');
  assert.equal(msg.content.toString(), 'to myself');
  assert.equal(msg.fields.routingKey, ok.queue);
  assert.equal(msg.fields.messageCount, 0);

  // another connection may not use it
  const other = await connect(t);
  const och = await other.createChannel();
  och.on('error', () => {});
  await assert.rejects(och.consume(ok.queue, () => {}), (err) => {
    assert.equal(err.code, 405);
    assert.ok(err.message.includes(`RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${ok.queue}' in vhost '/'`), err.message);
    return true;
  });
});

test('direct reply-to: RPC through amq.rabbitmq.reply-to', { timeout: TEST_TIMEOUT }, async (t) => {
  // the server side: a worker answering on its own connection
  const serverConn = await connect(t);
  const server = await serverConn.createChannel();
  const rpcQueue = (await server.assertQueue(uniq('rpc'), { exclusive: true })).queue;
  const seenReplyTo = [];
  await server.consume(rpcQueue, (req) => {
    seenReplyTo.push(req.properties.replyTo);
    const n = Number(req.content.toString());
    server.sendToQueue(req.properties.replyTo, Buffer.from(String(n * 2)), {
      correlationId: req.properties.correlationId,
    });
    server.ack(req);
  });

  // the client: consume the pseudo-queue (no-ack), then publish requests with reply_to
  const clientConn = await connect(t);
  const client = await clientConn.createChannel();
  const replies = await Inbox.consume(client, REPLY_TO, { noAck: true });
  const ids = [];
  for (let i = 1; i <= 3; i++) {
    const correlationId = randomUUID();
    ids.push(correlationId);
    client.sendToQueue(rpcQueue, Buffer.from(String(i)), { replyTo: REPLY_TO, correlationId });
  }
  const got = [await replies.next(), await replies.next(), await replies.next()];
  assert.deepEqual(got.map((m) => m.properties.correlationId), ids);
  assert.deepEqual(got.map((m) => m.content.toString()), ['2', '4', '6']);
  for (const m of got) {
    assert.equal(m.fields.exchange, '');
    assert.ok(m.fields.routingKey.startsWith(`${REPLY_TO}.`), m.fields.routingKey);
    assert.equal(m.fields.consumerTag, replies.consumerTag);
  }
  // the broker handed the worker a routable name in place of the pseudo-queue, the same each time
  assert.equal(seenReplyTo.length, 3);
  assert.ok(seenReplyTo[0].startsWith(`${REPLY_TO}.`), seenReplyTo[0]);
  assert.equal(new Set(seenReplyTo).size, 1);
  assert.equal(got[0].fields.routingKey, seenReplyTo[0]);
});

test('wazo-headers: Wazo-style bindings {name, user_uuid:<uuid>: true}, also via xivo', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  // as Wazo's daemons do at start (idempotent on the predeclared exchanges; left in place)
  await ch.assertExchange('xivo', 'topic', { durable: true });
  await ch.assertExchange('wazo-headers', 'headers', { durable: true });
  await ch.bindExchange('wazo-headers', 'xivo', '#');

  const me = randomUUID();
  const other = randomUUID();
  const tenant = randomUUID();
  await ch.prefetch(250);
  const q = (await ch.assertQueue(`wazo-node.user-${me}`, { exclusive: true, autoDelete: true })).queue;
  await ch.bindQueue(q, 'wazo-headers', '', { name: 'call_created', [`user_uuid:${me}`]: true });
  const inbox = await Inbox.consume(ch, q);

  const mine = callCreated(me, tenant);
  const theirs = callCreated(other, tenant);
  const props = (headers) => ({ contentType: 'application/json', contentEncoding: 'utf-8', headers });
  ch.publish('wazo-headers', '', mine.body, props(mine.headers));
  ch.publish('wazo-headers', '', theirs.body, props(theirs.headers)); // another user's call
  ch.publish('wazo-headers', '', Buffer.from('ended'), props({ ...mine.headers, name: 'call_ended' }));
  ch.publish('wazo-headers', '', Buffer.from('string, not bool'), props({ ...mine.headers, [`user_uuid:${me}`]: 'true' }));
  ch.publish('xivo', mine.routingKey, Buffer.from('via xivo'), props(mine.headers)); // xivo -> wazo-headers
  ch.publish('xivo', mine.routingKey, Buffer.from('no headers'));

  const bodies = await inbox.untilMarker(ch, q);
  assert.deepEqual(bodies, [mine.body.toString(), 'via xivo']);
  const [direct, viaXivo] = inbox.messages;
  assert.equal(direct.fields.exchange, 'wazo-headers');
  assert.equal(direct.fields.routingKey, '');
  assert.deepEqual(direct.properties.headers, mine.headers);
  assert.equal(JSON.parse(direct.content.toString()).data.user_uuid, me);
  assert.equal(viaXivo.fields.exchange, 'xivo');
  assert.equal(viaXivo.fields.routingKey, 'calls.call.created');
  ch.ackAll();
});

test('xivo topic exchange: Wazo routing keys with * and # bindings', { timeout: TEST_TIMEOUT }, async (t) => {
  const conn = await connect(t);
  const ch = await conn.createChannel();
  await ch.assertExchange('xivo', 'topic', { durable: true });
  const user = randomUUID();
  const app = randomUUID();
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  // keys as Wazo services publish them; bindings as their consumers make them
  await ch.bindQueue(q, 'xivo', 'calls.call.*');
  await ch.bindQueue(q, 'xivo', `applications.${app}.#`);
  await ch.bindQueue(q, 'xivo', `chatd.users.${user}.presences.updated`);
  const inbox = await Inbox.consume(ch, q, { noAck: true });

  // unique suffixes, so that other publishers on the shared xivo exchange cannot be mistaken for ours
  const tag = randomUUID().slice(0, 8);
  const keys = [
    ['calls.call.created', true],
    ['calls.call.ended', true],
    ['calls.call', false],
    ['calls.call.created.extra', false],
    [`applications.${app}.calls.1715954607.42.updated`, true],
    [`applications.${app}`, true], // # matches zero words
    [`applications.${randomUUID()}.calls.x.created`, false],
    [`chatd.users.${user}.presences.updated`, true],
    [`chatd.users.${randomUUID()}.presences.updated`, false],
  ];
  for (const [key] of keys) ch.publish('xivo', key, Buffer.from(`${tag} ${key}`));
  await inbox.untilMarker(ch, q);
  const ours = inbox.messages.filter((m) => m.content.toString().startsWith(`${tag} `));
  assert.deepEqual(ours.map((m) => m.fields.routingKey), keys.filter(([, hit]) => hit).map(([key]) => key));
  for (const m of ours) assert.equal(m.fields.exchange, 'xivo');
});
