// Shared helpers for the amqplib suite. The broker is whatever WARREN_TEST_URL points at
// (tests/run-all starts Warren and sets it; tests/rabbitmq-reference.sh points it at RabbitMQ).
// Every test uses its own uniquely named queues/exchanges, so the suite can run against a shared
// broker, and node --test may run the files in parallel.

import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';

export const URL = process.env.WARREN_TEST_URL;
if (!URL) {
  throw new Error('WARREN_TEST_URL is not set (use tests/run-all or tests/rabbitmq-reference.sh)');
}

// Every test gets this deadline (node --test has no default one).
export const TEST_TIMEOUT = 15_000;

export const REPLY_TO = 'amq.rabbitmq.reply-to';

export function uniq(prefix = 't') {
  return `warren-test.node.${prefix}.${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

/** Connect, and close the connection when the test ends (whatever state it is in). */
export async function connect(t, options) {
  const conn = await amqp.connect(URL, options);
  // A connection-level error with no listener would crash the test process.
  conn.on('error', () => {});
  t.after(async () => {
    try {
      await conn.close();
    } catch {
      // already closed
    }
  });
  return conn;
}

/** Reject if `promise` does not settle within `ms`. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `predicate` (may be async) until it returns something truthy. */
export async function waitFor(predicate, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves with the first `event` emitted by `emitter`. */
export function once(emitter, event, ms = 5000) {
  return within(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), ms, `'${event}' event`);
}

/**
 * A consumer that records deliveries: `await inbox.next()` gives them in order, and
 * `await inbox.untilMarker(ch)` proves that everything published before on `ch` has been seen.
 */
export class Inbox {
  constructor() {
    this.messages = []; // deliveries, markers excluded
    this.cancelled = false;
    this._waiters = [];
    this._seen = 0;
  }

  static async consume(ch, queue, options = {}) {
    const inbox = new Inbox();
    const ok = await ch.consume(queue, (msg) => inbox._push(msg), options);
    inbox.consumerTag = ok.consumerTag;
    return inbox;
  }

  _push(msg) {
    if (msg === null) {
      this.cancelled = true; // basic.cancel from the broker
    } else if (msg.properties.type === 'warren-test-marker') {
      this._marker = msg.properties.messageId;
    } else {
      this.messages.push(msg);
    }
    for (const w of this._waiters.splice(0)) w();
  }

  _changed(ms, what) {
    return within(new Promise((resolve) => this._waiters.push(resolve)), ms, what);
  }

  async next(ms = 5000) {
    while (this._seen >= this.messages.length) {
      await this._changed(ms, `a delivery (have ${this.messages.length})`);
    }
    return this.messages[this._seen++];
  }

  async until(predicate, what, ms = 5000) {
    while (!predicate()) await this._changed(ms, what);
  }

  /** Publish a marker to `queue` on `ch` (after whatever `ch` published) and wait for it. */
  async untilMarker(ch, queue, ms = 5000) {
    const marker = randomUUID();
    ch.sendToQueue(queue, Buffer.alloc(0), { messageId: marker, type: 'warren-test-marker' });
    await this.until(() => this._marker === marker, `marker on ${queue}`, ms);
    return this.messages.map((m) => m.content.toString());
  }
}

/** An event of the Wazo bus, shaped as wazo-bus publishes CallCreatedEvent. */
export function callCreated(userUuid, tenantUuid) {
  const name = 'call_created';
  const origin = 'ca7f87e9-c2c8-5fad-ba1b-c3140ebb9be3';
  const timestamp = '2024-05-17T14:03:27.123456';
  const requiredAcl = `events.calls.${userUuid}`;
  const headers = {
    name,
    origin_uuid: origin,
    timestamp,
    required_access: `event.${name}`,
    required_acl: requiredAcl,
    tenant_uuid: tenantUuid,
    [`user_uuid:${userUuid}`]: true,
  };
  const body = Buffer.from(
    JSON.stringify({
      name,
      origin_uuid: origin,
      timestamp,
      required_acl: requiredAcl,
      required_access: `event.${name}`,
      data: { call_id: '1715954607.42', user_uuid: userUuid, caller_id_name: 'Alice Ünïcode', status: 'Ring' },
    }),
  );
  return { routingKey: 'calls.call.created', headers, body };
}
