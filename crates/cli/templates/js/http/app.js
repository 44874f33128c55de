// A WASI 0.2 HTTP handler: `skiff serve` calls this listener once per request, in a fresh instance
// (componentize-js exports it as wasi:http/incoming-handler).
addEventListener("fetch", (event) => {
  const path = new URL(event.request.url).pathname;
  const text = path === "/" ? "Hello from JavaScript!\n" : `Hello from JavaScript! You asked for ${path}\n`;
  event.respondWith(new Response(text, { headers: { "content-type": "text/plain" } }));
});
