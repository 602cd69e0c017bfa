// "Create a new TOTP", JavaScript tab of nitride-totp-api.md, body verbatim.
// Filled in: the base address before the path and the Authorization header
// (the e2e test fills in both placeholders). Added: the two prints.
// An ES module (.mjs), so that the sample's top-level await runs in Node.
const response = await fetch('<address>/v1/auth/ratls/totp', {
    method: 'PUT',
    headers: {
      "Content-Type": "application/json",
      "Authorization": "Bearer <token>"
    },
    body: JSON.stringify({
      "created": 0,
      "expiration": 0,
      "policy": "text",
      "uuid": "text"
    }),
});
const data = await response.json();
console.log(JSON.stringify(data));
console.log(`status: ${response.status}`);
