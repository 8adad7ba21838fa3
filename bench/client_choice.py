import asyncio, time, os, sys
BODY=b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
RESP=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"%(len(BODY),BODY)
def server():
    import socket
    async def handle(r,w):
        try:
            while True:
                hdr=await r.readuntil(b"\r\n\r\n")
                cl=0
                for line in hdr.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"): cl=int(line.split(b":")[1])
                if cl: await r.readexactly(cl)
                w.write(RESP)
        except Exception: pass
    async def main():
        s=await asyncio.start_server(handle,"127.0.0.1",18999)
        await s.serve_forever()
    asyncio.run(main())
N=3000
payload=b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
async def bench_httpx():
    import httpx
    async with httpx.AsyncClient(base_url="http://127.0.0.1:18999") as c:
        for i in range(200): (await c.post("/v1/chat/completions",content=payload)).read()
        t=time.process_time()
        for i in range(N):
            r=await c.post("/v1/chat/completions",content=payload,headers={"content-type":"application/json"}); r.content
        return (time.process_time()-t)/N*1e6
async def bench_aiohttp():
    import aiohttp
    async with aiohttp.ClientSession("http://127.0.0.1:18999") as c:
        for i in range(200):
            async with c.post("/v1/chat/completions",data=payload) as r: await r.read()
        t=time.process_time()
        for i in range(N):
            async with c.post("/v1/chat/completions",data=payload,headers={"content-type":"application/json"}) as r: await r.read()
        return (time.process_time()-t)/N*1e6
async def bench_openai():
    import openai
    c=openai.AsyncOpenAI(base_url="http://127.0.0.1:18999/v1",api_key="x")
    for i in range(200): await c.chat.completions.create(model="m",messages=[{"role":"user","content":"hi"}])
    t=time.process_time()
    for i in range(N): await c.chat.completions.create(model="m",messages=[{"role":"user","content":"hi"}])
    return (time.process_time()-t)/N*1e6
if sys.argv[1]=="server": server()
else:
    import uvloop
    for name,f in [("httpx",bench_httpx),("aiohttp",bench_aiohttp),("openai",bench_openai)]:
        print(name, "%.0f us CPU/request (client only)"%uvloop.run(f()))
