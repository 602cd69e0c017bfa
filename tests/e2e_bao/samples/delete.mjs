// "Deleting an existing TOTP", JavaScript tab of nitride-totp-api.md, path
// verbatim. Filled in: the base address before the path and the Authorization
// header (the e2e test fills in both placeholders). Added: the two prints.
// An ES module (.mjs), so that the sample's top-level await runs in Node.
const response = await fetch('<address>/v1/auth/ratls/totp/{totp-uuid}', {
    method: 'DELETE',
    headers: {"Authorization": "Bearer <token>"},
});
const data = await response.json();
console.log(JSON.stringify(data));
console.log(`status: ${response.status}`);
