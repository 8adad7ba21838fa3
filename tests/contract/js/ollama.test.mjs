// Contract tests for the official `ollama` npm client against a running proxy.
// PROXY_URL: the proxy's base URL. The proxy's backend must serve "test-model" and
// "text-embedding-small" with its default (scripted) answers; see tests/contract/test_js_client.py.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Ollama } from 'ollama'

const host = process.env.PROXY_URL
if (!host) throw new Error('PROXY_URL is not set')
const ollama = new Ollama({ host })
const USER = [{ role: 'user', content: 'Say hello' }]

test('version', async () => {
  const { version } = await ollama.version()
  assert.match(version, /^\d+\.\d+\.\d+/)
})

test('list', async () => {
  const { models } = await ollama.list()
  const names = models.map((m) => m.model)
  assert.ok(names.includes('test-model:latest'), names.join(','))
  for (const m of models) {
    assert.match(m.digest, /^[0-9a-f]{64}$/)
    assert.ok(!Number.isNaN(new Date(m.modified_at).getTime()))
  }
})

test('show', async () => {
  const shown = await ollama.show({ model: 'test-model' })
  assert.equal(typeof shown.model_info, 'object')
  assert.ok(Array.isArray(shown.capabilities))
  assert.ok(shown.capabilities.includes('completion'))
})

test('chat, not streamed', async () => {
  const reply = await ollama.chat({ model: 'test-model', messages: USER })
  assert.equal(reply.message.role, 'assistant')
  assert.equal(reply.message.content, 'Hello from the fake backend.')
  assert.equal(reply.done, true)
  assert.equal(reply.eval_count, 5)
  assert.equal(reply.prompt_eval_count, 7)
})

test('chat, streamed (ends with done:true or ollama-js throws)', async () => {
  const stream = await ollama.chat({ model: 'test-model', messages: USER, stream: true })
  let text = ''
  let last
  for await (const part of stream) {
    assert.equal(part.message.role, 'assistant')
    text += part.message.content
    last = part
  }
  assert.equal(text, 'Hello from the fake backend.')
  assert.equal(last.done, true)
  assert.equal(last.done_reason, 'stop')
  assert.ok(Number.isInteger(last.total_duration))
})

test('generate, streamed and not', async () => {
  const reply = await ollama.generate({ model: 'test-model', prompt: 'hi' })
  assert.equal(reply.response, 'Hello from the fake backend.')
  let text = ''
  for await (const part of await ollama.generate({ model: 'test-model', prompt: 'hi', stream: true })) {
    text += part.response
  }
  assert.equal(text, 'Hello from the fake backend.')
})

test('embed', async () => {
  const { embeddings } = await ollama.embed({ model: 'text-embedding-small', input: ['a', 'b'] })
  assert.deepEqual(embeddings, [[0.6, 0.8], [0.6, 0.8]])
})

test('pull progress stream ends with success', async () => {
  const statuses = []
  let percent = 0
  for await (const p of await ollama.pull({ model: 'test-model', stream: true })) {
    statuses.push(p.status)
    // ollama-js's own pull example prints this for every line with a digest
    if (p.digest) percent = Math.round((p.completed / p.total) * 100)
  }
  assert.equal(percent, 100)
  assert.equal(statuses[0], 'pulling manifest')
  assert.equal(statuses.at(-1), 'success')
  const single = await ollama.pull({ model: 'test-model' })
  assert.equal(single.status, 'success')
})

test('errors are ResponseError with status_code', async () => {
  await assert.rejects(ollama.chat({ model: 'no-such-model', messages: USER }), (err) => {
    assert.equal(err.name, 'ResponseError')
    assert.equal(err.status_code, 404)
    assert.equal(err.error, "model 'no-such-model' not found")
    return true
  })
  await assert.rejects(ollama.show({ model: 'no-such-model' }), (err) => {
    assert.equal(err.status_code, 404)
    assert.equal(err.error, "model 'no-such-model:latest' not found")
    return true
  })
  await assert.rejects(ollama.chat({ model: 'test-model', messages: USER, keep_alive: '300' }), (err) => {
    assert.equal(err.status_code, 400)
    return true
  })
  // As Ollama: a 200 stream ending with an error line (thrown while iterating), a 500 when not streamed
  const progress = await ollama.pull({ model: 'no-such-model', stream: true })
  await assert.rejects(async () => { for await (const part of progress) assert.notEqual(part.status, 'success') }, (err) => {
    assert.equal(err.message ?? err.error, 'pull model manifest: file does not exist')
    return true
  })
  await assert.rejects(ollama.pull({ model: 'no-such-model' }), (err) => {
    assert.equal(err.status_code, 500)
    return true
  })
})
