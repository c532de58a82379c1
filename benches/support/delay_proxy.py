"""Forwards 127.0.0.1:PORT_i to TARGET_i:22, holding every chunk DELAY ms in each
direction: a WAN round trip of 2*DELAY on a local bridge. Stops with its parent's kill."""
import asyncio, sys, time

delay = float(sys.argv[1]) / 1000
pairs = [a.split("=") for a in sys.argv[2:]]  # PORT=IP

async def pump(reader, writer):
    q = asyncio.Queue()
    async def out():
        while True:
            due, data = await q.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()
    task = asyncio.create_task(out())
    while True:
        data = await reader.read(1 << 16)
        q.put_nowait((time.monotonic() + delay, data))
        if not data:
            break
    await task

async def main():
    async def serve(ip, r, w):
        tr, tw = await asyncio.open_connection(ip, 22)
        await asyncio.gather(pump(r, tw), pump(tr, w), return_exceptions=True)
    for port, ip in pairs:
        await asyncio.start_server(lambda r, w, ip=ip: serve(ip, r, w), "127.0.0.1", int(port))
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
