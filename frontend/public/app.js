// Calls the backend through nginx (/api is proxied to it) and shows what it
// says, so the page proves the whole stack: nginx, frontend, backend, redis.
async function show() {
  const backend = document.getElementById("backend");
  const visits = document.getElementById("visits");
  try {
    const res = await fetch("/api/status", { headers: { Accept: "application/json" } });
    const status = await res.json();
    backend.textContent = `${status.service} answers, redis says ${status.redis}`;
    backend.className = status.redis === "PONG" ? "ok" : "fail";
    visits.textContent = String(status.visits);
  } catch (err) {
    backend.textContent = `no answer from /api/status (${err.message})`;
    backend.className = "fail";
  }
}
show();
