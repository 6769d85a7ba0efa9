// The web chat: send through the console (which posts to the Twilio emulator), and show
// the conversation as audit records it, with delivery ticks from the status callbacks.
"use strict";
(function () {
  const chat = document.getElementById("chat");
  const list = document.getElementById("messages");
  const form = document.getElementById("compose");
  const bodyInput = document.getElementById("body");
  const fileInput = document.getElementById("file");
  const hint = document.getElementById("hint");
  const TICKS = { received: "✓", queued: "…", sending: "…", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!", undelivered: "!" };

  function bubble(sid) {
    let item = sid ? document.getElementById("m-" + sid) : null;
    if (!item) {
      item = document.createElement("li");
      if (sid) item.id = "m-" + sid;
      item.innerHTML = '<div class="text"></div><div class="foot"><span class="time"></span> <span class="tick"></span></div>';
      list.appendChild(item);
    }
    return item;
  }

  function show(message) {
    let item = document.getElementById("m-" + message.sid);
    if (!item && message.direction === "inbound") item = list.querySelector('li[data-pending="' + message.sid + '"]');
    if (!item) item = bubble(message.sid);
    item.id = "m-" + message.sid;
    item.removeAttribute("data-pending");
    item.className = (message.direction === "inbound" ? "mine" : "theirs") + " status-" + message.status;
    item.dataset.status = message.status;
    const text = item.querySelector(".text");
    if (message.body || !text.textContent) text.textContent = message.body || (message.media_count ? "[attachment]" : "");
    item.querySelector(".time").textContent = message.at ? new Date(message.at).toLocaleTimeString() : "";
    const tick = item.querySelector(".tick");
    tick.textContent = message.direction === "outbound" ? (TICKS[message.status] || "") : "✓";
    tick.title = message.status + (message.error_code ? " (error " + message.error_code + ")" : "");
    list.scrollTop = list.scrollHeight;
  }

  const source = new EventSource(chat.dataset.stream);
  source.addEventListener("messages", function (event) { JSON.parse(event.data).forEach(show); });
  source.addEventListener("error", function () { hint.textContent = "Reconnecting to the console…"; });
  source.addEventListener("open", function () { hint.textContent = "Sandbox: messages go through the local Twilio emulator; nothing leaves this machine."; });

  // Voice notes from the microphone, where the browser allows it (localhost or https).
  const recordButton = document.getElementById("record");
  let recorder = null;
  let recorded = null;
  if (navigator.mediaDevices && window.MediaRecorder) {
    recordButton.hidden = false;
    recordButton.addEventListener("click", async function () {
      if (recorder) { recorder.stop(); return; }
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        const chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.addEventListener("dataavailable", function (e) { if (e.data.size) chunks.push(e.data); });
        recorder.addEventListener("stop", function () {
          stream.getTracks().forEach(function (track) { track.stop(); });
          recorder = null;
          recordButton.classList.remove("recording");
          recordButton.textContent = "Record";
          const type = (chunks[0] && chunks[0].type) || "audio/webm";
          recorded = new File(chunks, "voice-note.webm", { type: type });
          form.requestSubmit();
        });
        recorder.start();
        recordButton.classList.add("recording");
        recordButton.textContent = "Stop and send";
      } catch (error) {
        hint.textContent = "The microphone is not available: " + error.message;
      }
    });
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const file = recorded || fileInput.files[0];
    if (!bodyInput.value.trim() && !file) return;
    const pending = bubble(null);
    pending.className = "mine pending";
    pending.querySelector(".text").textContent = bodyInput.value + (file ? (bodyInput.value ? " " : "") + "[" + file.name + "]" : "");
    pending.querySelector(".tick").textContent = "…";
    const data = new FormData(form);
    if (recorded) { data.set("file", recorded); recorded = null; }
    bodyInput.value = "";
    fileInput.value = "";
    try {
      const response = await fetch(form.action, { method: "POST", body: data, credentials: "same-origin" });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
      const existing = document.getElementById("m-" + answer.message_sid);
      if (existing) { pending.remove(); } else { pending.dataset.pending = answer.message_sid; pending.querySelector(".tick").textContent = "✓"; }
    } catch (error) {
      pending.classList.add("status-failed");
      pending.querySelector(".tick").textContent = "!";
      hint.textContent = "Not sent: " + error.message;
    }
    bodyInput.focus();
  });
})();
