// The live connection: resume from the last sequence number, catch up, apply changes, send actions.
// Protocol: docs/protocol.md. Actions wait in a persisted outbox until the server answers them,
// so a tap made offline, or just before a reload, is sent once the connection is back; the
// server applies a repeated action id only once.

// Acks bound what the server buffers for us (it closes a client 256 changes behind); sent every
// 64 changes or after 1-2 s, at a random point so that thousands of phones do not ack at once.
const ACK_EVERY = 64;
const ACK_AFTER_MS = 1000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_EVERY_MS = 15000;
const SILENT_AFTER_MS = 35000; // nothing heard for this long: the connection is dead, not quiet

export function pageData() {
  const node = document.getElementById("os-data");
  return node ? JSON.parse(node.textContent) : null;
}

export function newId() {
  // crypto.randomUUID needs a secure context; phones on a venue's LAN use plain http.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Every list in a state (spaces, slots, topics, announcements, and merges for facilitators)
// becomes a Map by id, so a patch's upserts and deletes apply the same way to each.
function toMaps(state) {
  const maps = { event: state.event };
  for (const [kind, rows] of Object.entries(state)) {
    if (Array.isArray(rows)) maps[kind] = new Map(rows.map((row) => [row.id, row]));
  }
  return maps;
}

export class Live extends EventTarget {
  constructor(data) {
    super();
    this.address = data.urls.live;
    this.seq = data.seq;
    this.epoch = data.epoch;
    this.t = data.i18n;
    this.state = toMaps(data.state);
    this.waiting = new Map(); // action id -> {resolve, reject}
    this.outboxKey = `openspace-outbox-${data.slug}`;
    this.outbox = this.loadOutbox();
    this.backoff = BACKOFF_MIN_MS;
    this.unacked = 0;
    this.ackTimer = null;
    this.ws = null;
    this.online = false;
    this.status = "connecting";
    this.lastHeard = Date.now();
    this.retry = null;
    // Bad venue wifi stalls a socket without closing it: the browser's own offline/online
    // signals and a heartbeat notice, so the page says "offline" and reconnects by itself.
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => {
      this.backoff = BACKOFF_MIN_MS;
      if (!this.online && !this.gone) this.reconnect(0);
    });
    setInterval(() => this.heartbeat(), PING_EVERY_MS);
  }

  heartbeat() {
    if (!this.online) return;
    if (Date.now() - this.lastHeard > SILENT_AFTER_MS) this.drop();
    else this.ws.send('{"type":"ping"}');
  }

  // Give up on the current socket at once (its late close event is ignored) and try again.
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.online = false;
    this.setStatus("offline");
    try {
      ws.close();
    } catch {
      // already closing
    }
    this.reconnect(this.backoff * (0.5 + Math.random()));
  }

  reconnect(delay) {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), delay);
  }

  loadOutbox() {
    try {
      return JSON.parse(localStorage.getItem(this.outboxKey) || "[]");
    } catch {
      return [];
    }
  }

  saveOutbox() {
    try {
      localStorage.setItem(this.outboxKey, JSON.stringify(this.outbox));
    } catch {
      // private mode or full storage: the outbox still lives in memory until a reload
    }
  }

  connect() {
    if (this.ws) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = `since=${this.seq}&epoch=${encodeURIComponent(this.epoch)}`;
    this.setStatus("connecting");
    const ws = new WebSocket(`${scheme}//${location.host}${this.address}?${query}`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.backoff = BACKOFF_MIN_MS;
      this.lastHeard = Date.now();
      this.online = true;
      this.setStatus("online");
      for (const message of this.outbox) ws.send(JSON.stringify(message));
      this.dispatchEvent(new CustomEvent("open")); // cowrite.js subscribes to its report again
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      this.receive(JSON.parse(event.data));
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.online = false;
      this.setStatus("offline");
      // 4008: we fell behind and should resume at once; anything else: back off, with jitter
      // so that a whole room of phones does not reconnect in the same instant.
      if (event.code === 4004) {
        this.gone = true;
        this.setStatus("gone"); // the event was deleted: there is nothing to come back to
        return;
      }
      if (event.code === 4008) {
        this.reconnect(50);
        return;
      }
      const delay = this.backoff * (0.5 + Math.random());
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
      this.reconnect(delay);
    });
  }

  receive(message) {
    if (message.type === "snapshot") {
      this.state = toMaps(message.state);
      this.seq = message.seq;
      this.epoch = message.epoch;
      this.emit({ snapshot: true, reason: message.reason });
    } else if (message.type === "change") {
      if (this.take(message)) this.emit({ kind: message.kind, patch: message.patch });
    } else if (message.type === "batch") {
      // several changes at once (a burst): apply them all, then draw once
      const taken = message.changes.filter((change) => this.take(change));
      if (taken.length) this.emit({ kind: "batch", changes: taken });
    } else if (message.type === "result") {
      this.settle(message);
    } else if (message.type.startsWith("doc.")) {
      this.dispatchEvent(new CustomEvent("doc", { detail: message })); // a report written together
    }
  }

  // Apply one change if it is the next one; false when already had, or after a hole (then the
  // connection is dropped and the server fills the hole from its log on reconnecting).
  take(change) {
    if (change.seq <= this.seq || !this.ws) return false;
    if (change.seq !== this.seq + 1) {
      this.drop();
      return false;
    }
    this.apply(change.patch);
    this.seq = change.seq;
    this.scheduleAck();
    return true;
  }

  apply(patch) {
    if (patch.event) this.state.event = patch.event;
    for (const [kind, rows] of Object.entries(patch.upsert || {})) {
      if (!this.state[kind]) this.state[kind] = new Map();
      for (const row of rows) this.state[kind].set(row.id, row);
    }
    // only the fields that changed, of rows this screen has (a rename does not resend descriptions)
    for (const [kind, rows] of Object.entries(patch.update || {})) {
      for (const row of rows) {
        const known = this.state[kind]?.get(row.id);
        if (known) this.state[kind].set(row.id, { ...known, ...row });
      }
    }
    for (const [kind, ids] of Object.entries(patch.delete || {})) {
      for (const id of ids) this.state[kind]?.delete(id);
    }
  }

  emit(detail) {
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }

  scheduleAck() {
    this.unacked += 1;
    if (this.unacked >= ACK_EVERY) {
      this.ack();
    } else if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => this.ack(), ACK_AFTER_MS * (1 + Math.random()));
    }
  }

  ack() {
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.unacked = 0;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "ack", seq: this.seq }));
    }
  }

  // A message outside the outbox (cowrite.js keeps its own pending updates); false when offline.
  raw(message) {
    if (!this.online || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // Send an action; resolves with the server's result, rejects with its translated refusal.
  send(name, args) {
    const message = { type: "action", id: newId(), name, args };
    this.outbox.push(message);
    this.saveOutbox();
    const promise = new Promise((resolve, reject) => this.waiting.set(message.id, { resolve, reject }));
    if (this.online) this.ws.send(JSON.stringify(message));
    else this.setStatus(this.status); // one more waiting to be sent
    return { id: message.id, queued: !this.online, promise };
  }

  settle(message) {
    if (!message.ok && message.error.code === "slow_down") {
      // not refused, only too fast: keep it, and send it again in a moment
      const held = this.outbox.find((m) => m.id === message.id);
      if (held) setTimeout(() => this.online && this.ws.send(JSON.stringify(held)), 1500 + Math.random() * 1000);
      return;
    }
    this.outbox = this.outbox.filter((m) => m.id !== message.id);
    this.saveOutbox();
    if (this.status !== "online") this.setStatus(this.status); // one fewer waiting
    const waiter = this.waiting.get(message.id);
    if (!waiter) return;
    this.waiting.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(message.error);
  }

  // The status line, with how many actions wait in the outbox while not connected; called again
  // whenever that number changes.
  setStatus(status) {
    this.status = status;
    const node = document.getElementById("conn");
    if (!node) return;
    node.hidden = false;
    node.dataset.state = status;
    const count = this.outbox.length;
    const text = count === 1 ? this.t.waiting_one : this.t.waiting.replace("%(num)s", count);
    const waiting = count && status !== "online" && status !== "gone" ? ` ${text}` : "";
    node.textContent = this.t[status] + waiting;
    document.documentElement.dataset.conn = status;
  }
}
