// This browser's id for Digit Lab's per-browser archive: 16 random bytes as 32 hex digits, made once
// and kept in localStorage and in a cookie (the cookie reaches the server with the next connection).
const ID = /^[0-9a-f]{32}$/;

function freshId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function fromCookie(name) {
  const hit = document.cookie.split('; ').find((part) => part.startsWith(name + '='));
  return hit ? hit.slice(name.length + 1) : null;
}

export default function (component) {
  const { data, setStateValue } = component;
  const name = String((data && data.cookie) || 'digitlab_browser');
  let id = null;
  try { id = window.localStorage.getItem(name); } catch (err) { /* storage refused: the cookie alone */ }
  if (!ID.test(id || '')) id = fromCookie(name);
  if (!ID.test(id || '')) id = freshId();
  try { window.localStorage.setItem(name, id); } catch (err) { /* storage refused */ }
  document.cookie = `${name}=${id}; path=/; max-age=31536000; SameSite=Strict`;
  setStateValue('id', id);
}
