// The official `ollama` npm client against the proxy in front of a real llama.cpp server.
//
// Run by tests/e2e/test_js_client.py (which starts both): OLLAMA_PROXY_URL is the proxy,
// LLAMA_SERVER_URL (optional) the llama-server root, to read its context size (/props) and
// check that it stops generating after an abort (/slots, else /metrics).
// Assertions are about shapes and invariants, never the exact text of the 135M model.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Ollama } from 'ollama'

const HOST = process.env.OLLAMA_PROXY_URL
if (!HOST) throw new Error('set OLLAMA_PROXY_URL to the proxy URL, e.g. http://127.0.0.1:11434')
const LLAMA = process.env.LLAMA_SERVER_URL
const MODEL = 'smollm2'
const UNKNOWN = 'no-such-model-e2e-js'
const ollama = new Ollama({ host: HOST })
const CHAT = [{ role: 'user', content: 'Name three colours.' }]
const DURATIONS = ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']

function checkFinal(final, numPredict) {
  assert.equal(final.done, true)
  assert.ok(['stop', 'length'].includes(final.done_reason), final.done_reason)
  for (const name of DURATIONS) {
    assert.ok(Number.isInteger(final[name]) && final[name] > 0, `${name}=${final[name]}`)
  }
  assert.ok(Number.isInteger(final.prompt_eval_count) && final.prompt_eval_count > 0)
  assert.ok(Number.isInteger(final.eval_count) && final.eval_count > 0)
  if (final.done_reason === 'length') assert.equal(final.eval_count, numPredict)
  assert.ok(!Number.isNaN(Date.parse(final.created_at)), final.created_at)
}

async function collect(stream) {
  const parts = []
  for await (const part of stream) parts.push(part)
  return parts
}

// How many requests llama-server generates for: GET /slots when the build serves it (some answer
// 501), else the llamacpp:requests_processing gauge of GET /metrics (the server runs with --metrics).
async function generating() {
  const slots = await fetch(`${LLAMA}/slots`)
  const listing = slots.ok ? await slots.json() : null
  if (Array.isArray(listing)) return listing.filter((s) => s.is_processing).length
  const metrics = await fetch(`${LLAMA}/metrics`)
  const found = metrics.ok ? /^llamacpp:requests_processing\s+(\S+)/m.exec(await metrics.text()) : null
  if (!found) {
    throw new Error(`llama-server shows no activity: /slots ${slots.status}, /metrics ${metrics.status}`)
  }
  return Number(found[1])
}

async function waitIdle(timeoutMs) {
  const deadline = Date.now() + timeoutMs
  let busy = await generating()
  while (busy && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200))
    busy = await generating()
  }
  return busy
}

// The context one request may use, as llama-server reports it (per slot or all of --ctx,
// depending on the build and --kv-unified): the proxy must report exactly this.
async function backendContextLength() {
  const props = await (await fetch(`${LLAMA}/props`)).json()
  return props.default_generation_settings.n_ctx
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'The name of the city' } },
      required: ['city'],
    },
  },
}

test('list shows smollm2 with a 64-hex digest', async () => {
  const { models } = await ollama.list()
  const entry = models.find((m) => m.model === `${MODEL}:latest`)
  assert.ok(entry, JSON.stringify(models))
  assert.equal(entry.name, `${MODEL}:latest`)
  assert.match(entry.digest, /^[0-9a-f]{64}$/)
  assert.ok(!Number.isNaN(Date.parse(entry.modified_at)))
})

test('show has capabilities and the context length', async () => {
  const shown = await ollama.show({ model: MODEL })
  assert.ok(Array.isArray(shown.capabilities) && shown.capabilities.includes('completion'))
  const info = shown.model_info
  const arch = info['general.architecture']
  assert.equal(typeof arch, 'string')
  if (LLAMA) assert.equal(info[`${arch}.context_length`], await backendContextLength())
  else assert.ok(Number.isInteger(info[`${arch}.context_length`]) && info[`${arch}.context_length`] > 0)
})

test('chat, not streamed', async () => {
  const resp = await ollama.chat({ model: MODEL, messages: CHAT, options: { num_predict: 24 } })
  assert.equal(resp.message.role, 'assistant')
  assert.ok(resp.message.content.trim())
  checkFinal(resp, 24)
})

test('chat, streamed (ollama-js throws when a stream ends without done)', async () => {
  const parts = await collect(
    await ollama.chat({ model: MODEL, messages: CHAT, stream: true, options: { num_predict: 24 } }),
  )
  assert.ok(parts.length >= 2)
  assert.ok(parts.slice(0, -1).every((p) => p.done === false && p.message.role === 'assistant'))
  assert.ok(parts.map((p) => p.message.content).join('').trim())
  checkFinal(parts.at(-1), 24)
})

test('generate, streamed and not', async () => {
  const resp = await ollama.generate({ model: MODEL, prompt: 'Write one sentence about the sea.', options: { num_predict: 16 } })
  assert.ok(resp.response.trim())
  checkFinal(resp, 16)
  const parts = await collect(
    await ollama.generate({ model: MODEL, prompt: 'Write one sentence about the sea.', stream: true, options: { num_predict: 16 } }),
  )
  assert.ok(parts.map((p) => p.response).join('').trim())
  checkFinal(parts.at(-1), 16)
})

test('tool round trip', async () => {
  const opts = { temperature: 0, num_predict: 48 }
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }]
  const first = await ollama.chat({ model: MODEL, messages, tools: [weatherTool], options: opts })
  assert.equal(first.done_reason, 'stop')
  const calls = first.message.tool_calls ?? []
  assert.equal(calls.length, 1, JSON.stringify(first.message))
  assert.equal(calls[0].function.name, 'get_weather')
  assert.equal(typeof calls[0].function.arguments, 'object')
  assert.equal(typeof calls[0].function.arguments.city, 'string')

  messages.push(first.message)
  messages.push({ role: 'tool', content: `21 degrees and sunny in ${calls[0].function.arguments.city}.`, tool_name: 'get_weather' })
  const parts = await collect(await ollama.chat({ model: MODEL, messages, tools: [weatherTool], stream: true, options: opts }))
  assert.equal(parts.at(-1).done, true)
  assert.ok(parts.map((p) => p.message.content).join('').trim(), JSON.stringify(parts))
})

test('tool call, streamed: the call arrives whole', async () => {
  const stream = await ollama.chat({
    model: MODEL,
    messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    tools: [weatherTool],
    stream: true,
    options: { temperature: 0, num_predict: 48 },
  })
  const parts = await collect(stream)
  const calls = parts.flatMap((p) => p.message.tool_calls ?? [])
  assert.equal(calls.length, 1)
  assert.equal(typeof calls[0].function.arguments, 'object')
  assert.equal(parts.at(-1).done_reason, 'stop')
})

test('structured output with a JSON schema', async () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 24 }, country: { type: 'string', maxLength: 24 } },
    required: ['name', 'country'],
    additionalProperties: false,
  }
  const resp = await ollama.chat({
    model: MODEL,
    messages: [{ role: 'user', content: 'Tell me about Paris. Reply in JSON.' }],
    format: schema,
    options: { temperature: 0, num_predict: 64 },
  })
  assert.equal(resp.done_reason, 'stop', resp.message.content)
  const value = JSON.parse(resp.message.content)
  assert.deepEqual(Object.keys(value).sort(), ['country', 'name'])
  assert.equal(typeof value.name, 'string')
  assert.equal(typeof value.country, 'string')
})

test('format json gives a JSON object', async () => {
  const resp = await ollama.generate({
    model: MODEL,
    prompt: 'Reply in JSON: {"answer": <the capital of France>}',
    format: 'json',
    options: { temperature: 0, num_predict: 48 },
  })
  assert.equal(resp.done_reason, 'stop', resp.response)
  const value = JSON.parse(resp.response)
  assert.equal(typeof value, 'object')
  assert.ok(value !== null && !Array.isArray(value))
})

test('embed, single and batch', async () => {
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  const one = await ollama.embed({ model: MODEL, input: 'hello world' })
  assert.equal(one.embeddings.length, 1)
  assert.equal(one.embeddings[0].length, 576)
  assert.ok(Math.abs(norm(one.embeddings[0]) - 1) < 1e-3)
  const batch = await ollama.embed({ model: MODEL, input: ['hello world', 'a rocket launch', 'hello world'] })
  assert.equal(batch.embeddings.length, 3)
  const maxDiff = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])))
  assert.ok(maxDiff(batch.embeddings[0], batch.embeddings[2]) < 1e-4)
  assert.ok(maxDiff(batch.embeddings[0], one.embeddings[0]) < 1e-3)
  assert.ok(maxDiff(batch.embeddings[0], batch.embeddings[1]) > 1e-2)
})

test('legacy embeddings', async () => {
  const resp = await ollama.embeddings({ model: MODEL, prompt: 'hello world' })
  assert.equal(resp.embedding.length, 576)
})

test('pull streams progress ending with success (ollama-js sends {name})', async () => {
  const parts = await collect(await ollama.pull({ model: MODEL, stream: true }))
  assert.ok(parts.length >= 1)
  assert.equal(parts.at(-1).status, 'success')
  const single = await ollama.pull({ model: MODEL })
  assert.equal(single.status, 'success')
})

test('unknown model is a ResponseError with status_code 404', async () => {
  const is404 = (e) => {
    assert.equal(e.name, 'ResponseError')
    assert.equal(e.status_code, 404)
    assert.match(e.error, /not found/)
    return true
  }
  await assert.rejects(ollama.chat({ model: UNKNOWN, messages: CHAT }), is404)
  await assert.rejects(ollama.generate({ model: UNKNOWN, prompt: 'hi' }), is404)
  await assert.rejects(ollama.show({ model: UNKNOWN }), is404)
  await assert.rejects(ollama.embed({ model: UNKNOWN, input: 'hi' }), is404)
  await assert.rejects(
    (async () => collect(await ollama.chat({ model: UNKNOWN, messages: CHAT, stream: true })))(),
    is404,
  )
})

test('abort() mid-stream ends the stream and frees the backend', async () => {
  if (LLAMA) assert.equal(await waitIdle(30000), 0, 'backend busy before the test')
  const stream = await ollama.generate({
    model: MODEL,
    prompt: 'Write a very long story about a dragon.',
    stream: true,
    options: { num_predict: 4000 },
  })
  let n = 0
  await assert.rejects(
    (async () => {
      for await (const part of stream) {
        assert.equal(part.done, false)
        n += 1
        if (n === 2) stream.abort()
      }
    })(),
    (e) => e.name === 'AbortError',
  )
  assert.ok(n >= 2, `${n} chunks`) // lines already buffered by the client may still be yielded
  if (LLAMA) assert.equal(await waitIdle(8000), 0, 'the backend kept generating after abort()')
  // The client and the proxy still work.
  const after = await ollama.generate({ model: MODEL, prompt: 'Hi', options: { num_predict: 2 } })
  assert.equal(after.done, true)
})

test('Ollama.abort() cancels every ongoing stream of the client', async () => {
  const client = new Ollama({ host: HOST })
  // raw counting: no chat template, so the model keeps going instead of ending its turn
  const streams = await Promise.all(
    [1, 2].map(() =>
      client.generate({ model: MODEL, prompt: '1, 2, 3, 4, 5, 6,', raw: true, stream: true, options: { num_predict: 4000 } }),
    ),
  )
  const outcomes = streams.map(async (s) => {
    try {
      for await (const part of s) if (part.done) return 'finished'
      return 'ended'
    } catch (e) {
      return e.name
    }
  })
  await new Promise((r) => setTimeout(r, 300))
  client.abort()
  assert.deepEqual(await Promise.all(outcomes), ['AbortError', 'AbortError'])
  if (LLAMA) assert.equal(await waitIdle(8000), 0, 'the backend kept generating after abort()')
})
