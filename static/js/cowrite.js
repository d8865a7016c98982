// Reports written together, live (issue #16; docs/protocol.md, "Reports written together").
// Each field's textarea is bound to a Y.Text of the report's shared document (Yjs, vendored in
// static/vendor/). Our typing becomes Yjs updates, kept in this page's localStorage until the
// server acknowledges them (durable), so a reload, a closed tab or an hour offline loses
// nothing; the others' typing arrives as updates and is merged in by Yjs, never as a conflict.
import * as Y from "../vendor/yjs.js";
import { newId } from "./live.js";

const LOCAL = "local"; // the origin of our own typing, so we do not echo it into the textarea
const FLUSH_MS = 60; // typing is sent at most this often (the server takes 20 updates a second)
const PRESENCE_MS = 1500; // "Eva is writing…" is said at most this often
const PRESENCE_SHOWN_MS = 4000;
const RETRY_MS = 1500;

// Where a keystroke changed the text, from the caret: typing "[" before another "[" must insert
// before it, where the caret is, not after it as a common-prefix diff would say (the character
// would then belong to the other author's run, and drift away from ours as the others type).
// [start, unchanged characters at the end], or [-1, 0] when the caret does not explain the edit.
function caretEdit(old, now, caret) {
  const grown = now.length - old.length;
  if (grown > 0) {
    const start = caret - grown;
    if (start >= 0 && now.slice(0, start) === old.slice(0, start) && now.slice(caret) === old.slice(start)) {
      return [start, old.length - start];
    }
  } else if (grown < 0) {
    if (now.slice(0, caret) === old.slice(0, caret) && now.slice(caret) === old.slice(caret - grown)) {
      return [caret, now.length - caret];
    }
  }
  return [-1, 0];
}

export class Cowrite {
  constructor(live, { slug, topic, state, rseq, fields, t, status }) {
    this.live = live;
    this.topic = topic;
    this.t = t;
    this.status = status;
    this.key = `openspace-doc-${slug}-${topic}`;
    this.doc = new Y.Doc();
    if (state) Y.applyUpdate(this.doc, Y.fromBase64(state), "server");
    this.rseq = rseq;
    this.ready = false; // subscribed on the current socket: pushes may go
    this.unsent = [];
    this.timer = null;
    this.lastPresence = 0;
    this.pending = this.load(); // [{id, u}]: typed here, not yet acknowledged
    for (const entry of this.pending) Y.applyUpdate(this.doc, Y.fromBase64(entry.u), "restore");
    this.doc.on("update", (update, origin) => {
      if (origin !== LOCAL) return;
      this.unsent.push(update);
      if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
    });
    for (const [name, textarea] of Object.entries(fields)) this.bind(name, textarea);
    live.addEventListener("doc", (event) => this.receive(event.detail));
    live.addEventListener("open", () => this.subscribe());
    // a reload, back or a closed tab: what is still waiting for the next flush goes to storage now
    window.addEventListener("pagehide", () => this.flush());
    window.addEventListener("offline", () => {
      this.ready = false;
      this.say();
    });
    this.say();
  }

  load() {
    try {
      return JSON.parse(localStorage.getItem(this.key) || "[]");
    } catch {
      return [];
    }
  }

  save() {
    try {
      if (this.pending.length) localStorage.setItem(this.key, JSON.stringify(this.pending));
      else localStorage.removeItem(this.key);
    } catch {
      // private mode or full storage: the pending updates still live in memory
    }
  }

  bind(name, textarea) {
    const text = this.doc.getText(name);
    const typed = textarea.value; // typed before this script ran (a slow phone): keep it
    const early = typed !== textarea.defaultValue && text.toString() === textarea.defaultValue;
    textarea.value = text.toString();
    textarea.addEventListener("input", () => {
      const old = text.toString();
      const now = textarea.value;
      let [start, end] = caretEdit(old, now, textarea.selectionEnd);
      if (start < 0) {
        start = 0;
        while (start < old.length && start < now.length && old[start] === now[start]) start++;
        end = 0;
        while (end < old.length - start && end < now.length - start && old[old.length - 1 - end] === now[now.length - 1 - end]) end++;
      }
      this.doc.transact(() => {
        if (old.length - start - end > 0) text.delete(start, old.length - start - end);
        if (now.length - start - end > 0) text.insert(start, now.slice(start, now.length - end));
      }, LOCAL);
      if (Date.now() - this.lastPresence > PRESENCE_MS && this.ready) {
        this.lastPresence = Date.now();
        this.live.raw({ type: "doc.presence", topic: this.topic, field: name });
      }
    });
    if (early) {
      textarea.value = typed;
      textarea.dispatchEvent(new Event("input"));
    }
    text.observe((event, transaction) => {
      if (transaction.origin === LOCAL) return;
      // keep our caret where it was relative to the text around it
      let from = textarea.selectionStart;
      let to = textarea.selectionEnd;
      let at = 0;
      for (const step of event.delta) {
        if (step.retain) at += step.retain;
        else if (step.insert) {
          const n = step.insert.length;
          if (at < from) from += n;
          if (at < to) to += n;
          at += n;
        } else if (step.delete) {
          if (at < from) from -= Math.min(step.delete, from - at);
          if (at < to) to -= Math.min(step.delete, to - at);
        }
      }
      textarea.value = text.toString();
      if (document.activeElement === textarea) textarea.setSelectionRange(from, to);
    });
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.unsent.length) return;
    const update = Y.mergeUpdates(this.unsent);
    this.unsent = [];
    const last = this.pending[this.pending.length - 1];
    if (!this.ready && last && !last.sent) {
      // offline: one growing entry rather than one per keystroke
      last.u = Y.toBase64(Y.mergeUpdates([Y.fromBase64(last.u), update]));
    } else {
      this.pending.push({ id: newId(), u: Y.toBase64(update) });
    }
    this.save(); // on the phone before it is on the wire
    if (this.ready) this.send(this.pending[this.pending.length - 1]);
    this.say();
  }

  // Resolves once everything typed here has been acknowledged by the server.
  whenSaved() {
    this.flush();
    return new Promise((resolve) => {
      const check = () => (this.pending.length ? setTimeout(check, 100) : resolve());
      check();
    });
  }

  send(entry) {
    if (this.live.raw({ type: "doc.push", topic: this.topic, id: entry.id, update: entry.u })) entry.sent = true;
  }

  subscribe() {
    this.ready = false;
    const sv = Y.toBase64(Y.encodeStateVector(this.doc));
    this.live.raw({ type: "doc.sub", topic: this.topic, sv });
  }

  receive(message) {
    if (message.topic !== this.topic) return;
    if (message.type === "doc.state") {
      Y.applyUpdate(this.doc, Y.fromBase64(message.update), "server");
      this.rseq = message.rseq;
      this.ready = true;
      this.flush();
      for (const entry of this.pending) this.send(entry);
    } else if (message.type === "doc.update") {
      Y.applyUpdate(this.doc, Y.fromBase64(message.update), "server");
      if (this.ready && message.rseq === this.rseq + 1) this.rseq = message.rseq;
      else if (this.ready && message.rseq > this.rseq + 1) this.subscribe(); // a hole: ask for what we lack
    } else if (message.type === "doc.ack") {
      this.pending = this.pending.filter((entry) => entry.id !== message.id);
      this.save();
    } else if (message.type === "doc.refused") {
      const entry = this.pending.find((e) => e.id === message.id);
      if (entry && message.retry) {
        setTimeout(() => this.ready && this.send(entry), RETRY_MS * (1 + Math.random()));
        return;
      }
      if (entry) this.pending = this.pending.filter((e) => e !== entry); // refused for good (locked, too long)
      this.save();
      if (this.status) {
        this.status.hidden = false;
        this.status.textContent = message.error.message;
      }
      return;
    } else if (message.type === "doc.resync") {
      this.subscribe();
    } else if (message.type === "doc.presence") {
      this.presence(message.field, message.who || this.t.someone);
    }
    this.say();
  }

  presence(field, who) {
    const node = document.querySelector(`[data-presence="${field}"]`);
    if (!node) return;
    node.textContent = this.t.writing.replace("%(name)s", who);
    node.hidden = false;
    clearTimeout(node.presenceTimer);
    node.presenceTimer = setTimeout(() => {
      node.hidden = true;
    }, PRESENCE_SHOWN_MS);
  }

  say() {
    if (!this.status) return;
    const waiting = this.pending.length > 0 || this.unsent.length > 0;
    this.status.hidden = false;
    this.status.dataset.pending = waiting ? "1" : "";
    this.status.textContent = waiting ? this.t.doc_pending : this.t.doc_saved;
  }
}
