// One source of markup (issue #14): every part of a page that follows the board is rendered by
// the server only, as a region of the page itself (data-region="NAME"). When changes arrive the
// page asks its own address again, once per burst, with the hashes of the regions it has; the
// server answers with the regions that differ (web/regions.py) and they are morphed into place
// with idiomorph, so a page left open equals the page loaded fresh.
//
// What belongs to the person and this device is never overwritten by a morph: what they are
// typing (a field whose value differs from the one rendered), the caret and focus (idiomorph keeps
// the element), which <details> they opened, the projector's fitted type size, a form's busy and
// invalid marks, and any node marked data-keep (a message addressed to them, the session nudge).

import { Idiomorph } from "../vendor/idiomorph.esm.js";

const PACE_MS = 40; // changes that arrive this close together are fetched as one
const RETRY_MS = 2000; // doubled after each failed ask, up to RETRY_MAX_MS
const RETRY_MAX_MS = 30000;
const CLOCK_JITTER_MS = 5000; // a room full of phones does not ask at the same instant
const CLOCK_MAX_MS = 6 * 3600 * 1000; // beyond what a timer should wait at once
const OWN = new Set(["style", "aria-busy", "aria-invalid", "data-dirty"]);
const TEXT_INPUT = new Set(["text", "search", "email", "url", "tel", "number", "password", "date", "time"]);

function typed(node) {
  const field = node instanceof HTMLTextAreaElement
    || (node instanceof HTMLInputElement && TEXT_INPUT.has(node.type));
  return field && node.value !== node.defaultValue;
}

const kept = (node) => node instanceof Element && node.hasAttribute("data-keep");

export const MORPH = {
  morphStyle: "outerHTML",
  // not idiomorph's ignoreActiveValue: it also freezes a focused button's label ("I'm here"
  // stayed after the tap); a field keeps what was typed into it by the check below instead
  ignoreActiveValue: false,
  callbacks: {
    beforeNodeMorphed(oldNode, newNode) {
      if (kept(oldNode)) return false;
      // a fold of the facilitator's console is laid out for a phase (#15): when the phase changes,
      // whether it is open is the server's again, so the page equals the one loaded fresh
      if (oldNode instanceof HTMLDetailsElement && newNode instanceof Element
        && oldNode.dataset.fold !== newNode.dataset.fold) oldNode.open = newNode.hasAttribute("open");
      return true;
    },
    beforeNodeRemoved: (node) => !kept(node),
    beforeAttributeUpdated(name, node) {
      if (OWN.has(name)) return false;
      if (name === "open" && (node.tagName === "DETAILS" || node.tagName === "DIALOG")) return false;
      return !(name === "value" && typed(node));
    },
  },
};

// An address from the page data: the server names every one (data.urls), so no script builds a
// path; one that names a topic or a photo holds a {topic} or {name}, filled in here.
export function link(data, name, params = {}) {
  return data.urls[name].replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(params[key]));
}

const region = (name) => document.querySelector(`[data-region="${CSS.escape(name)}"]`);

// A region as sent, with each nested region the page already had (a stub) filled from the page,
// and the page's own CSRF token in its forms: an answer is shared by everyone in the same state,
// so its forms carry a stand-in token (web/regions.py).
function filled(html, csrf) {
  const box = document.createElement("template");
  box.innerHTML = html;
  if (csrf) for (const field of box.content.querySelectorAll('input[name="csrf"]')) field.value = csrf;
  for (const stub of box.content.querySelectorAll("template[data-same]")) {
    const mine = region(stub.dataset.same);
    if (!mine) return null;
    stub.replaceWith(mine.cloneNode(true), document.createComment(`/${stub.dataset.same}`));
  }
  return box.content.firstElementChild;
}

// The hashes of the regions the page was loaded with, which the server puts in it (web/regions.py);
// none (an older page) makes the first answer bring every region once.
function loadedHashes() {
  const node = document.getElementById("os-hashes");
  try {
    return node ? JSON.parse(node.textContent) : {};
  } catch {
    return {};
  }
}

const topRegions = () => [...document.querySelectorAll("[data-region]")].filter(
  (node) => !node.parentElement.closest("[data-region]"));

function clock(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export class Regions extends EventTarget {
  // url(): the address whose regions this page shows (by default the page's own, `here` in its
  // data; none for a form's answer, which then stays as it is until the person goes on); busy: an
  // element marked aria-busy while a refresh is due; hold(): true while the page must not change
  // under the person (a drag).
  constructor(live, data, { url = data.here ? () => data.here : null, busy = null, hold = () => false } = {}) {
    super();
    this.live = live;
    this.url = url;
    this.busy = busy;
    this.hold = hold;
    this.hashes = loadedHashes(); // what the page came with: the first ask gets only what changed
    this.seq = data.seq;
    this.csrf = data.csrf || ""; // what the page's forms carry: the answers' forms get it too
    this.timer = null;
    this.running = false;
    this.again = false;
    this.waiters = [];
    this.retry = RETRY_MS;
    this.offset = Date.parse(data.serverNow) - Date.now(); // the device's clock may be off
    this.t = data.i18n;
    document.documentElement.dataset.seq = String(this.seq);
    live.addEventListener("change", () => this.schedule());
    this.clock = null;
    this.atClockChange(data.clockChange);
    setInterval(() => this.tick(), 1000);
    this.tick();
  }

  // Refresh soon; the promise resolves once the page shows the newest answer.
  schedule(delay = PACE_MS) {
    if (!this.url) return Promise.resolve();
    const done = new Promise((resolve) => this.waiters.push(resolve));
    if (this.busy) this.busy.setAttribute("aria-busy", "true");
    if (!this.timer) this.timer = setTimeout(() => this.fetch(), delay);
    return done;
  }

  async fetch() {
    this.timer = null;
    if (this.running || this.hold()) {
      this.again = true; // one more fetch once this one or the hold ends
      return;
    }
    this.running = true;
    let answer = null;
    try {
      const response = await fetch(this.url(), {
        credentials: "same-origin", headers: { "X-Regions": [...new Set(Object.values(this.hashes))].join(" ") },
      });
      if (response.redirected || response.status === 403 || response.status === 404 || response.status === 410) {
        // the page itself is now another one (a room's session began, a session left the
        // agenda): go where a fresh load would go
        window.location.assign(response.redirected ? response.url : window.location.href);
        return;
      }
      if (response.ok) answer = await response.json();
    } catch {
      // bad wifi: tried again below
    }
    this.running = false;
    if (!answer) {
      // a stale page must not stay stale, but a phone offline for long need not keep asking
      this.timer = setTimeout(() => this.fetch(), this.retry);
      this.retry = Math.min(this.retry * 2, RETRY_MAX_MS);
      return;
    }
    this.retry = RETRY_MS;
    if (this.hold()) {
      this.again = true;
    } else {
      this.apply(answer);
    }
    if (this.again || this.hold() || this.live.seq > this.seq) {
      this.again = false;
      if (!this.hold()) this.schedule(0);
      return;
    }
    if (this.busy) this.busy.removeAttribute("aria-busy");
    const waiters = this.waiters.splice(0);
    for (const resolve of waiters) resolve();
  }

  // Without any change, a page renders differently when a slot starts or ends, an announcement
  // expires or the bell runs out: the server says when the next such moment is, and the page
  // asks again then (no polling).
  atClockChange(when) {
    clearTimeout(this.clock);
    if (!when) return;
    const wait = Date.parse(when) - (Date.now() + this.offset) + 500 + Math.random() * CLOCK_JITTER_MS;
    this.clock = setTimeout(() => this.schedule(), Math.min(Math.max(wait, 0), CLOCK_MAX_MS));
  }

  // Called by the page when a hold ends.
  release() {
    if (this.again) this.schedule(0);
  }

  apply(answer) {
    const names = answer.outer;
    const here = topRegions().map((node) => node.dataset.region);
    const fresh = Object.entries(answer.regions).map(([name, html]) => [region(name), filled(html, this.csrf)]);
    if (here.length !== names.length || here.some((name) => !names.includes(name))
      || fresh.some(([node, next]) => !node || !next)) {
      window.location.reload(); // the page's very shape changed: only a load can match it
      return;
    }
    // What the person is working in stays where they see it, whatever grew above it (the
    // browser's own scroll anchoring may pick a node in a list above the form instead).
    const focus = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
    const before = focus?.getBoundingClientRect().top;
    for (const [node, next] of fresh) Idiomorph.morph(node, next, MORPH);
    if (focus?.isConnected) window.scrollBy(0, focus.getBoundingClientRect().top - before);
    // what the page has now: the hashes sent, and those it kept of regions still on the page
    const hashes = { ...this.hashes, ...answer.hashes };
    const present = new Set([...document.querySelectorAll("[data-region]")].map((node) => node.dataset.region));
    this.hashes = Object.fromEntries(Object.entries(hashes).filter(([name]) => present.has(name)));
    if (answer.seq !== null && answer.seq !== undefined) this.seq = answer.seq;
    this.atClockChange(answer.clockChange);
    document.documentElement.dataset.seq = String(this.seq);
    this.tick();
    this.dispatchEvent(new CustomEvent("applied", { detail: { names: Object.keys(answer.regions) } }));
  }

  // Between two renders only the countdown moves: towards the instant the server rendered.
  tick() {
    for (const node of document.querySelectorAll("[data-countdown][data-until]")) {
      const left = Date.parse(node.dataset.until) - (Date.now() + this.offset);
      const text = (this.t[node.dataset.kind] || "%(time)s").replace("%(time)s", clock(left));
      if (node.textContent !== text) node.textContent = text;
      if (left <= 0 && left > -3000 && !this.timer && !this.running) this.schedule(); // the slot or bell is over
    }
  }
}
