"""A caller in its own process, so a test can kill it outright (no goodbye of any kind)."""

import asyncio
import sys

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from tests.integration.test_media import Quadrants  # noqa: E402


async def main(url: str, device: str) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(Quadrants())
    pc.createDataChannel("fixes")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession(cookies={"scenelink_device": device}) as http:
        async with http.post(url + "/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}) as resp:
            answer = await resp.json()
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    print("streaming", flush=True)
    await asyncio.sleep(60)


asyncio.run(main(sys.argv[1], sys.argv[2]))
