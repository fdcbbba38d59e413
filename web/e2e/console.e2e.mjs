// The console end to end in a real headless Chromium (Debian's, driven by playwright-core) against a real
// `loopdesk serve`: log in, switch language, chat with the support agent until it asks to cancel an order,
// approve that write from the staff inbox, see the conversation go on; a customer (on a phone-sized screen) reports
// a bug, which staff then find on the board and move to its next stage; staff look at the task's detail, the
// conversations and their replay, the analytics and the admin's tools. Run by tests/console/test_console_e2e.py
// (make test-web) with LOOPDESK_BASE, LOOPDESK_EMAIL, LOOPDESK_PASSWORD; SCREENSHOTS=dir also saves the main views.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.LOOPDESK_BASE;
const email = process.env.LOOPDESK_EMAIL;
const password = process.env.LOOPDESK_PASSWORD;
const customerEmail = process.env.LOOPDESK_CUSTOMER_EMAIL;
const customerPassword = process.env.LOOPDESK_CUSTOMER_PASSWORD;
const shots = process.env.SCREENSHOTS;
assert.ok(base && email && password, "LOOPDESK_BASE, LOOPDESK_EMAIL and LOOPDESK_PASSWORD are required");
assert.ok(customerEmail && customerPassword, "LOOPDESK_CUSTOMER_EMAIL and LOOPDESK_CUSTOMER_PASSWORD are required");

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

function step(name) {
  console.log(`- ${name}`);
}

async function shoot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: FLAGS });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US" });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.setDefaultTimeout(20_000);

  step("the first page is the login form");
  await page.goto(`${base}/`);
  await page.getByTestId("login-email").waitFor();
  await shoot(page, "login-en");

  step("a wrong password is refused with a message, not a crash");
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill("not-the-password");
  await page.getByTestId("login-submit").click();
  await page.getByRole("alert").waitFor();
  assert.ok(await page.getByTestId("login-email").isVisible());

  step("log in with the right one");
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("nav-chat").waitFor();

  step("switch to Chinese: the page changes and remembers it");
  const english = await page.getByTestId("nav-chat").innerText();
  await page.getByTestId("lang-switch").selectOption("zh");
  await page.waitForFunction(() => document.documentElement.lang.startsWith("zh"));
  const chinese = await page.getByTestId("nav-chat").innerText();
  assert.notEqual(chinese, english);
  assert.match(chinese, /[\u4e00-\u9fff]/, "the Chinese navigation shows Chinese");
  await page.reload();
  await page.getByTestId("nav-chat").waitFor();
  assert.equal(await page.getByTestId("nav-chat").innerText(), chinese);
  await page.getByTestId("nav-chat").click();
  await page.getByTestId("chat-input").waitFor();
  await shoot(page, "chat-zh");
  await page.getByTestId("lang-switch").selectOption("en");
  await page.waitForFunction(() => document.documentElement.lang.startsWith("en"));

  step("chat: ask the support agent to cancel an order; it waits for an approval");
  await page.getByTestId("chat-input").fill("Please cancel my order A1002");
  await page.getByTestId("chat-send").click();
  await page.locator('[data-testid="chat-message"][data-role="user"]', { hasText: "A1002" }).waitFor();
  await page.getByTestId("approval-card").first().waitFor({ timeout: 90_000 });
  await shoot(page, "chat-approval-en");

  step("the inbox holds the approval; approve it");
  await page.getByTestId("nav-approvals").click();
  const item = page.getByTestId("approvals-item").filter({ hasText: "A1002" }).first();
  await item.waitFor({ timeout: 30_000 });
  await shoot(page, "approvals-en");
  await item.getByTestId("approval-approve").click();
  await item.waitFor({ state: "detached", timeout: 30_000 });

  step("back in the chat, the agent goes on after the approval");
  await page.getByTestId("nav-chat").click();
  const reply = page.locator('[data-testid="chat-message"][data-role="assistant"]').filter({ hasText: /returned|cancelled/i });
  try {
    await reply.last().waitFor({ timeout: 90_000 });
  } catch (error) {
    const seen = await page.getByTestId("chat-message").allInnerTexts();
    throw new Error(`no reply after the approval; the chat shows: ${JSON.stringify(seen)}`, { cause: error });
  }
  await shoot(page, "chat-done-en");

  step("log out");
  await page.getByTestId("logout").click();
  await page.getByTestId("login-email").waitFor();

  step("a customer on a phone reports a bug and follows it");
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, locale: "zh-CN", isMobile: true });
  const mobile = await phone.newPage();
  mobile.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  mobile.setDefaultTimeout(20_000);
  await mobile.goto(`${base}/`);
  await mobile.getByTestId("login-email").fill(customerEmail);
  await mobile.getByTestId("login-password").fill(customerPassword);
  await mobile.getByTestId("login-submit").click();
  await mobile.getByTestId("nav-feedback").click();
  const title = `Checkout page freezes ${Date.now()}`;
  await mobile.getByTestId("feedback-title").fill(title);
  await mobile.getByTestId("feedback-description").fill("Paying for order A1003 the page froze after I pressed pay.");
  await mobile.getByTestId("feedback-submit").click();
  await mobile.getByTestId("feedback-item").filter({ hasText: title }).waitFor({ timeout: 30_000 });
  const width = await mobile.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `the customer's view fits a phone (scroll width ${width})`);
  await shoot(mobile, "feedback-phone-zh");
  await phone.close();

  step("staff find the report on the board");
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("nav-board").click();
  await page.getByTestId("board-card").filter({ hasText: title }).waitFor({ timeout: 30_000 });
  await shoot(page, "board-en");

  step("the report reaches plan review; staff move it to the next stage, and the board shows it there");
  const inStage = (stage) =>
    page.locator(`[data-testid="board-column"][data-stage="${stage}"]`).getByTestId("board-card").filter({ hasText: title });
  await inStage("plan_review").waitFor({ timeout: 60_000 });
  // The card's "Move to" control (the keyboard path; dragging is covered by board.test.tsx).
  await inStage("plan_review").getByTestId("card-move").selectOption("assigned");
  await page.getByTestId("move-dialog").waitFor();
  const assignee = page.getByTestId("move-assignee");
  if ((await assignee.count()) && !(await assignee.inputValue())) await assignee.selectOption({ index: 1 });
  await page.getByTestId("move-note").fill("Plan approved: fix the checkout freeze.");
  await page.getByTestId("move-confirm").click();
  await inStage("assigned").waitFor({ timeout: 20_000 });

  step("the task's detail shows its analysis and timeline");
  await inStage("assigned").getByTestId("board-card-open").click();
  await page.getByTestId("task-detail").waitFor();
  await page.getByTestId("task-stage").filter({ hasText: /assigned/i }).waitFor();
  await page.locator('[data-testid="task-detail"] ol.timeline li').first().waitFor();
  await shoot(page, "task-detail-en");

  step("conversations: the chat is listed and its replay shows what happened");
  await page.getByTestId("nav-conversations").click();
  await page.getByTestId("conversations-row").first().waitFor({ timeout: 20_000 });
  await shoot(page, "conversations-en");
  await page.getByTestId("conversations-row").first().getByRole("link").first().click();
  await page.getByTestId("replay-event").first().waitFor({ timeout: 20_000 });
  await shoot(page, "replay-en");

  step("analytics shows the dashboards");
  await page.getByTestId("nav-analytics").click();
  await page.getByTestId("analytics-kpi").first().waitFor({ timeout: 20_000 });
  await page.getByTestId("analytics-chart").first().waitFor();
  await shoot(page, "analytics-en");

  step("admin: the tools and their approval policies");
  await page.getByTestId("nav-admin").click();
  await page.getByTestId("tool-row").first().waitFor({ timeout: 20_000 });
  await shoot(page, "admin-tools-en");

  assert.deepEqual(problems, [], "no uncaught errors in the page");
  console.log("console end to end: passed");
} finally {
  await browser.close();
}
