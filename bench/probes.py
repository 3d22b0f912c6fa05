"""Timed requests to the web app as an admin's browser and a script make them."""

import http.cookiejar
import re
import statistics
import threading
import time
import urllib.parse
import urllib.request


class Browser:
    """An admin signed in through the real form (CSRF token and all), with timed GETs."""

    def __init__(self, base: str, email: str, password: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.opener.open(base + "/login", timeout=30).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        if token is None:
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        form = {"email": email, "password": password, "csrf_token": token.group(1)}
        data = urllib.parse.urlencode(form).encode()
        self.opener.open(base + "/login", data=data, timeout=30).read()

    def get(self, path: str, headers: dict | None = None) -> tuple[int, float]:
        """(status, seconds) of one GET."""
        request = urllib.request.Request(self.base + path, headers=headers or {})
        started = time.perf_counter()
        with self.opener.open(request, timeout=30) as response:
            response.read()
            return response.status, time.perf_counter() - started


def timed_api_get(base: str, path: str, token: str) -> float:
    """Seconds of one API GET with a Bearer token."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - started


def percentiles(seconds: list[float]) -> dict:
    """Median and 95th percentile in milliseconds, and how many samples."""
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None}
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
    }


class Poller(threading.Thread):
    """While a run goes: task-status as a script polls it, and the run page and its progress
    fragment as the dashboard's htmx polls them, each about twice a second."""

    def __init__(self, base: str, token: str, browser: Browser, task_id: str, run_id: int):
        super().__init__(daemon=True)
        self.base, self.token, self.browser = base, token, browser
        self.task_id, self.run_id = task_id, run_id
        self.samples: dict[str, list[float]] = {"task_status": [], "run_page": [], "fragment": []}
        self.stop = threading.Event()

    def run(self) -> None:
        htmx = {"HX-Request": "true"}
        while not self.stop.wait(0.5):
            self.samples["task_status"].append(
                timed_api_get(self.base, f"/scheduled/task-status/{self.task_id}", self.token)
            )
            self.samples["run_page"].append(self.browser.get(f"/runs/{self.run_id}")[1])
            path = f"/runs/{self.run_id}/progress"
            self.samples["fragment"].append(self.browser.get(path, htmx)[1])

    def figures(self) -> dict:
        """Each endpoint's latency percentiles."""
        return {name: percentiles(values) for name, values in self.samples.items()}
