// Student web chat (served as a file: the page's Content-Security-Policy allows no inline script).
// Made for shared school computers: the chat id is random, lives only in this tab
// (sessionStorage), is forgotten after a while without activity, and "Nieuw gesprek" forgets
// it at once. Everything shown is set with textContent, never as HTML.
"use strict";

(() => {
  const KEY = "loopbaancoach-chat";
  const gesprek = document.getElementById("gesprek");
  const veld = document.getElementById("bericht");
  const knop = document.getElementById("verstuur");
  const idleMinutes = Number(document.body.dataset.idleMinutes);
  const idleMs = (idleMinutes > 0 ? idleMinutes : 30) * 60 * 1000;

  let staat = null; // {id, laatst, begroet, gebruikt}
  let generatie = 0; // replies that arrive after "Nieuw gesprek" belong to nobody: dropped
  let wachtend = null; // {tekst, id}: a message that failed, so a retry keeps its id
  let bezig = 0; // requests on their way: waiting for the coach is not being idle

  function willekeurigId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function bewaar() {
    try {
      sessionStorage.setItem(KEY, JSON.stringify(staat));
    } catch (e) {
      // storage may be disabled: the chat still works for as long as the page is open
    }
  }

  function lees() {
    try {
      const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (s && typeof s.id === "string" && /^[0-9a-f]{32}$/.test(s.id)
          && typeof s.laatst === "number") {
        return s;
      }
    } catch (e) {
      // unreadable: start fresh
    }
    return null;
  }

  function verlopen(s) {
    return bezig === 0 && Boolean(s.gebruikt) && Date.now() - s.laatst > idleMs;
  }

  function actief() {
    staat.laatst = Date.now();
    staat.gebruikt = true;
    bewaar();
  }

  function toon(tekst, soort) {
    const div = document.createElement("div");
    div.className = "msg " + soort;
    div.textContent = tekst;
    gesprek.appendChild(div);
    gesprek.scrollTop = gesprek.scrollHeight;
  }

  function terugInVeld(tekst) {
    if (!veld.value) veld.value = tekst;
  }

  async function stuur(tekst, laatZien, berichtId) {
    const gen = generatie;
    knop.disabled = true;
    if (laatZien) toon(tekst, "me");
    bezig += 1;
    try {
      const r = await fetch("/chat/bericht", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({afzender: staat.id, bericht: tekst, bericht_id: berichtId}),
        cache: "no-store",
      });
      let data = {};
      try {
        data = await r.json();
      } catch (e) {
        data = {};
      }
      if (gen !== generatie) return false;
      if (!r.ok) {
        toon(typeof data.fout === "string" ? data.fout : "Er ging iets mis.", "fout");
        if (laatZien) {
          wachtend = {tekst: tekst, id: berichtId};
          terugInVeld(tekst);
        }
        return false;
      }
      (Array.isArray(data.antwoorden) ? data.antwoorden : [])
        .forEach((t) => toon(String(t), "bot"));
      if (data.opnieuw_sturen === true) {
        // The coach could not take it in: keep the text (and its id) for the retry.
        if (laatZien) {
          wachtend = {tekst: tekst, id: berichtId};
          terugInVeld(tekst);
        }
        return false;
      }
      if (laatZien) wachtend = null;
      return true;
    } catch (e) {
      if (gen !== generatie) return false;
      toon("Geen verbinding. Je bericht staat nog klaar: probeer het zo opnieuw.", "fout");
      if (laatZien) {
        wachtend = {tekst: tekst, id: berichtId};
        terugInVeld(tekst);
      }
      return false;
    } finally {
      if (gen === generatie) {
        bezig = Math.max(0, bezig - 1);
        staat.laatst = Date.now(); // an answer is activity too: the idle time starts now
        bewaar();
        knop.disabled = false;
        veld.focus();
      }
    }
  }

  async function begroet() {
    const gen = generatie;
    if (await stuur("hoi", false, willekeurigId()) && gen === generatie) {
      staat.begroet = true;
      bewaar();
    }
  }

  // A new conversation with a new id: the previous one is forgotten by this browser and
  // nothing of it stays on the screen.
  function begin(melding) {
    generatie += 1;
    bezig = 0; // replies still on their way are dropped (other generation)
    staat = {id: willekeurigId(), laatst: Date.now(), begroet: false, gebruikt: false};
    bewaar();
    wachtend = null;
    gesprek.replaceChildren();
    veld.value = "";
    knop.disabled = false;
    if (melding) toon(melding, "info");
    begroet();
  }

  // Messages the coach wrote first while this page was closed (a check-in, a reminder).
  async function haalWachtend() {
    if (!staat || !staat.gebruikt) return;
    const gen = generatie;
    try {
      const r = await fetch("/chat/wachtend", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({afzender: staat.id}),
        cache: "no-store",
      });
      if (!r.ok) return;
      const data = await r.json();
      if (gen !== generatie || !Array.isArray(data.berichten)) return;
      for (const tekst of data.berichten) {
        if (typeof tekst === "string" && tekst) toon(tekst, "bot");
      }
    } catch (e) {
      // offline: they come with the reply to the next message
    }
  }

  function controleer() {
    if (staat && verlopen(staat)) {
      begin("Het vorige gesprek is van dit scherm gehaald, omdat het een tijd stil was.");
      return true;
    }
    return false;
  }

  document.getElementById("invoer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (controleer()) return;
    const tekst = veld.value.trim();
    if (!tekst || knop.disabled) return;
    const id = wachtend && wachtend.tekst === tekst ? wachtend.id : willekeurigId();
    veld.value = "";
    actief();
    stuur(tekst, true, id);
  });
  veld.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      knop.click();
    }
  });
  veld.addEventListener("input", actief);
  document.getElementById("nieuw").addEventListener("click", () => {
    begin("Het vorige gesprek is van dit scherm gehaald. Je begint opnieuw.");
  });
  document.addEventListener("visibilitychange", () => {
    if (!controleer() && document.visibilityState === "visible") haalWachtend();
  });
  window.addEventListener("focus", controleer);
  setInterval(controleer, Math.min(15000, Math.max(250, idleMs / 4)));

  // Earlier versions kept the id in localStorage forever: forget it.
  try {
    localStorage.removeItem("loopbaancoach-afzender");
    sessionStorage.removeItem("loopbaancoach-begroet");
  } catch (e) {
    // storage disabled
  }
  staat = lees();
  if (!staat || !staat.gebruikt) {
    begin(null); // nothing typed yet: a reload simply starts over
  } else if (!controleer()) {
    if (staat.begroet) {
      toon("Je gesprek loopt nog: typ verder, of klik op 'Nieuw gesprek'.", "info");
      haalWachtend();
    } else {
      begroet();
    }
  }
})();
