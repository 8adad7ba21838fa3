// Contract tests for the official `@anthropic-ai/sdk` and `openai` npm packages against a running
// proxy (PROXY_URL) whose scripted backend calls get_weather when offered it and answers
// "FINAL: <tool result>" once the result is back, "ok" otherwise; see tests/contract/test_js_client.py.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'

const host = process.env.PROXY_URL
if (!host) throw new Error('PROXY_URL is not set')
const anthropic = new Anthropic({ baseURL: host, apiKey: 'unused', maxRetries: 0 })
const openai = new OpenAI({ baseURL: `${host}/v1`, apiKey: 'unused', maxRetries: 0 })
const WEATHER = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }

test('anthropic: text, not streamed', async () => {
  const message = await anthropic.messages.create({
    model: 'test-model', max_tokens: 32, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }],
  })
  assert.match(message.id, /^msg_/)
  assert.equal(message.model, 'test-model')
  assert.deepEqual(message.content, [{ type: 'text', text: 'ok' }])
  assert.equal(message.stop_reason, 'end_turn')
  assert.deepEqual(message.usage, { input_tokens: 7, output_tokens: 5 })
})

test('anthropic: streamed tool use, then the result back', async () => {
  const tools = [{ name: 'get_weather', description: 'Weather now', input_schema: WEATHER }]
  const user = { role: 'user', content: 'Weather in Paris?' }
  const stream = anthropic.messages.stream({ model: 'test-model', max_tokens: 32, tools, messages: [user] })
  const types = []
  stream.on('streamEvent', (event) => types.push(event.type))
  const first = await stream.finalMessage()
  assert.equal(types[0], 'message_start')
  assert.equal(types.at(-1), 'message_stop')
  assert.equal(first.stop_reason, 'tool_use')
  const use = first.content.find((b) => b.type === 'tool_use')
  assert.deepEqual([use.id, use.name, use.input], ['call_agent_1', 'get_weather', { city: 'Paris' }])
  const second = await anthropic.messages.create({
    model: 'test-model',
    max_tokens: 32,
    tools,
    messages: [user, { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18C' }] }],
  })
  assert.equal(second.content[0].text, 'FINAL: 18C')
})

test('anthropic: unknown model is a 404 in Anthropic\'s shape', async () => {
  await assert.rejects(
    anthropic.messages.create({ model: 'ghost', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err.status === 404 && err.error.type === 'error' && err.error.error.type === 'not_found_error',
  )
})

test('openai responses: text, not streamed', async () => {
  const response = await openai.responses.create({ model: 'test-model', instructions: 'Be brief.', input: 'hi' })
  assert.match(response.id, /^resp_/)
  assert.equal(response.status, 'completed')
  assert.equal(response.output_text, 'ok')
  assert.equal(response.usage.total_tokens, 12)
})

test('openai responses: streamed function call, then the output back', async () => {
  const tools = [{ type: 'function', name: 'get_weather', description: 'Weather now', parameters: WEATHER }]
  const stream = openai.responses.stream({ model: 'test-model', input: 'Weather in Paris?', tools })
  const sequence = []
  for await (const event of stream) sequence.push(event.sequence_number)
  assert.deepEqual(sequence, [...sequence.keys()])
  const first = await stream.finalResponse()
  const call = first.output.find((item) => item.type === 'function_call')
  assert.deepEqual([call.call_id, call.name, JSON.parse(call.arguments)], ['call_agent_1', 'get_weather', { city: 'Paris' }])
  const second = await openai.responses.create({
    model: 'test-model',
    tools,
    input: [{ role: 'user', content: 'Weather in Paris?' },
      { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output: '18C' }],
  })
  assert.equal(second.output_text, 'FINAL: 18C')
})

test('openai responses: unknown model is a 404 in OpenAI\'s envelope', async () => {
  await assert.rejects(
    openai.responses.create({ model: 'ghost', input: 'hi' }),
    (err) => err.status === 404 && err.type === 'not_found_error',
  )
})
