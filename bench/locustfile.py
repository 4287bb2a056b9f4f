"""The user mix of bench/load.py, as locust users (headless; see that script).

Each simulated person scrolls the gallery (API cursors and the HTML page), searches, opens
image pages, likes, now and then uploads a PNG of their own (fresh pixels, so never a 409
duplicate) and submits a job. ``ATELIER_LOAD_USERS`` is a JSON file of ``[username, token]``
and ``ATELIER_LOAD_IMAGES`` a JSON list of image ids, both written by bench/load.py.

A 429 (too many jobs waiting, rate limits) is the server protecting itself, not a failure: it
is reported under its own name, ``... [429]``. Any 5xx, connection error or other unexpected
status is a failure.
"""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

from locust import FastHttpUser, between, task

USERS = json.loads(Path(os.environ["ATELIER_LOAD_USERS"]).read_text())
IMAGES = json.loads(Path(os.environ["ATELIER_LOAD_IMAGES"]).read_text())
QUERIES = [
    "cat",
    "portrait of a woman",
    "cyberpunk city at night",
    "oil painting",
    "greg rutkowski",
    "a castle in the mountains",
    "studio ghibli",
    "8k",
    "dragon",
    '"concept art"',
    "forest",
    "watercolor landscape",
    "robot",
    "-ugly sunset",
    "lighthouse",
]


def _png(rng: random.Random) -> bytes:
    from PIL import Image, PngImagePlugin

    pixels = Image.frombytes("RGB", (64, 64), rng.randbytes(64 * 64 * 3))
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        f"a load test picture {rng.random()}\nSteps: 4, Sampler: Euler a, CFG scale: 7, "
        f"Seed: {rng.getrandbits(31)}, Size: 64x64, Model: tiny-test",
    )
    out = io.BytesIO()
    pixels.save(out, "PNG", pnginfo=info)
    return out.getvalue()


class Visitor(FastHttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.rng = random.Random()
        _username, token = self.rng.choice(USERS)
        self.auth = {"Authorization": f"Token {token}"}
        self.cursor: str | None = None

    def _expect(self, response, *ok: int) -> None:
        if response.status_code in ok:
            response.success()
        else:
            response.failure(f"HTTP {response.status_code}")

    @task(20)
    def scroll_api(self) -> None:
        path = self.cursor or "/api/images/?page_size=30"
        with self.client.get(path, name="GET /api/images/ (scroll)", catch_response=True) as r:
            self._expect(r, 200)
            if r.status_code == 200:
                next_url = r.json().get("next")
                self.cursor = next_url[next_url.index("/api/") :] if next_url else None

    @task(8)
    def gallery_page(self) -> None:
        with self.client.get("/", name="GET / (gallery HTML)", catch_response=True) as r:
            self._expect(r, 200)

    @task(15)
    def search(self) -> None:
        query = self.rng.choice(QUERIES)
        with self.client.get(
            "/api/search/", params={"q": query}, name="GET /api/search/", catch_response=True
        ) as r:
            self._expect(r, 200)

    @task(12)
    def image_page(self) -> None:
        image_id = self.rng.choice(IMAGES)
        with self.client.get(
            f"/images/{image_id}/", name="GET /images/{id}/ (HTML)", catch_response=True
        ) as r:
            self._expect(r, 200)

    @task(8)
    def image_api(self) -> None:
        image_id = self.rng.choice(IMAGES)
        with self.client.get(
            f"/api/images/{image_id}/", name="GET /api/images/{id}/", catch_response=True
        ) as r:
            self._expect(r, 200)

    @task(6)
    def like(self) -> None:
        image_id = self.rng.choice(IMAGES)
        method = self.client.post if self.rng.random() < 0.7 else self.client.delete
        label = "POST" if method == self.client.post else "DELETE"
        with method(
            f"/api/images/{image_id}/like/",
            headers=self.auth,
            name=f"{label} /api/images/{{id}}/like/",
            catch_response=True,
        ) as r:
            self._expect(r, 200, 201, 204)

    @task(2)
    def upload(self) -> None:
        body = _png(self.rng)
        boundary = f"atelier{self.rng.getrandbits(64):x}"
        data = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="file"; filename="mine.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {**self.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        with self.client.post(
            "/api/uploads/",
            data=data,
            headers=headers,
            name="POST /api/uploads/",
            catch_response=True,
        ) as r:
            self._throttled_or(r, "POST /api/uploads/", 201)

    @task(3)
    def submit_job(self) -> None:
        body = {
            "mode": "txt2img",
            "prompt": f"a quick test render {self.rng.random()}",
            "width": 64,
            "height": 64,
            "steps": 4,
        }
        with self.client.post(
            "/api/jobs/",
            json=body,
            headers=self.auth,
            name="POST /api/jobs/",
            catch_response=True,
        ) as r:
            self._throttled_or(r, "POST /api/jobs/", 201)

    def _throttled_or(self, response, name: str, *ok: int) -> None:
        if response.status_code == 429:
            response.success()
            # Counted apart: fire a zero-cost sample under its own name.
            self.environment.events.request.fire(
                request_type="429",
                name=f"{name} [429]",
                response_time=0,
                response_length=0,
                exception=None,
                context={},
            )
            return
        self._expect(response, *ok)
