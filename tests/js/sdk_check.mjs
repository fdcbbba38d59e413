// Usage: node sdk_check.mjs <base url> <bearer token>; prints one JSON document of what it saw.
import { Client } from "@langchain/langgraph-sdk";

const [url, token] = process.argv.slice(2);
const client = new Client({ apiUrl: url, defaultHeaders: { Authorization: `Bearer ${token}` } });

const assistant = await client.assistants.get("echo");
const thread = await client.threads.create({ metadata: { from: "js" } });
const events = [];
for await (const part of client.runs.stream(thread.thread_id, "echo", {
  input: { messages: ["from js"] },
  streamMode: ["values", "updates"],
})) {
  events.push(part.event);
}
const waited = await client.runs.wait(thread.thread_id, "echo", { input: { messages: ["again"] } });
const runs = await client.runs.list(thread.thread_id);
const state = await client.threads.getState(thread.thread_id);
const found = await client.threads.search({ metadata: { from: "js" } });
console.log(JSON.stringify({
  assistant: assistant.graph_id,
  events,
  waited,
  runs: runs.map((r) => r.status),
  values: state.values,
  found: found.map((t) => t.thread_id),
  thread_id: thread.thread_id,
}));
