// Warren's live page in headless Chromium (Debian's, driven by playwright-core): a person logs in,
// a message published over AMQP appears in the rates and the routing trace, and a purge from the
// page empties its queue. Run by tests/run-all against the Warren it starts (the page is
// Warren's: against another broker the test is skipped). WARREN_PAGE_SCREENSHOT=FILE saves a
// screenshot of the page at the end (docs/live-page.png comes from it).
import { test } from "node:test";
import assert from "node:assert/strict";

import amqp from "amqplib";
import { chromium } from "playwright-core";

const AMQP_URL = process.env.WARREN_TEST_URL;
const MANAGEMENT_URL = process.env.WARREN_TEST_MANAGEMENT_URL;
const CHROMIUM = process.env.WARREN_TEST_CHROMIUM || "/usr/bin/chromium";
const AUTH = "Basic " + Buffer.from("guest:guest").toString("base64");

async function api(path, init = {}) {
  const response = await fetch(MANAGEMENT_URL + path, {
    ...init,
    headers: { Authorization: AUTH, "Content-Type": "application/json", ...(init.headers || {}) },
  });
  assert.ok(response.ok, `${path}: ${response.status}`);
  return response.status === 204 ? null : response.json();
}

async function isWarren() {
  if (!MANAGEMENT_URL) return false;
  const overview = await api("/api/overview");
  return overview.product_name === "Warren";
}

test("the live page shows a publish and purges from the page", { timeout: 90_000 }, async (t) => {
  if (!(await isWarren())) {
    t.skip("the live page is Warren's");
    return;
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const connection = await amqp.connect(AMQP_URL);
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
    const errors = [];
    page.on("pageerror", (error) => errors.push(error));
    await page.goto(MANAGEMENT_URL + "/");
    await page.fill("input[name=user]", "guest");
    await page.fill("input[name=password]", "guest");
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#app:not([hidden])");
    await page.waitForFunction(() => document.getElementById("status").textContent === "live");

    const channel = await connection.createChannel();
    const queue = `page-test-${process.pid}-${Date.now()}`;
    await channel.assertQueue(queue, { durable: false });
    await channel.bindQueue(queue, "xivo", "page.test.#");
    const routingKey = `page.test.${Date.now()}`;
    // A few publishes over some seconds, so that the sampled rate shows them.
    for (let n = 0; n < 5; n++) {
      channel.publish("xivo", routingKey, Buffer.from(`{"name": "page_test", "n": ${n}}`));
      await new Promise((resolve) => setTimeout(resolve, 400));
    }

    await page.waitForFunction(
      (key) => [...document.querySelectorAll("#trace tbody tr")].some((tr) => tr.textContent.includes(key)),
      routingKey, { timeout: 15_000 });
    const traced = await page.textContent("#trace tbody");
    assert.ok(traced.includes(queue), "the trace names the queue the event went to");
    await page.waitForFunction(() => Number(document.getElementById("rate-publish").textContent) > 0,
      null, { timeout: 20_000 });

    await page.fill("#queue-search", queue);
    const row = `#queues tbody tr[data-queue="${queue}"]`;
    await page.waitForSelector(row, { timeout: 15_000 });
    await page.waitForFunction((sel) => document.querySelector(sel).children[1].textContent === "5",
      row, { timeout: 15_000 });
    if (process.env.WARREN_PAGE_SCREENSHOT) {
      await page.screenshot({ path: process.env.WARREN_PAGE_SCREENSHOT, fullPage: true });
    }
    await page.click(`${row} button`);
    const deadline = Date.now() + 10_000;
    let messages;
    do {
      messages = (await api(`/api/queues/%2F/${encodeURIComponent(queue)}`)).messages;
      if (messages === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (Date.now() < deadline);
    assert.equal(messages, 0, "the purge from the page emptied the queue");
    assert.deepEqual(errors, [], "no script error on the page");
    await channel.deleteQueue(queue);
  } finally {
    await connection.close();
    await browser.close();
  }
});
