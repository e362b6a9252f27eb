/* Nile Flow: the distributions comparison follows finished and deleted jobs live.
   Each [data-nf-live] box asks its data-url every data-interval milliseconds (the jobs
   table's interval), passing the digest of what it shows: the answer is a few bytes
   while nothing changed, otherwise the new markup. One request per interval whatever the
   number of jobs; none while the tab is hidden. An external script: no inline code, so
   the page works under a strict Content Security Policy. */
(function () {
  "use strict";

  function LiveBox(box) {
    this.box = box;
    this.url = box.dataset.url;
    this.digest = box.dataset.digest || "";
    this.interval = Math.max(500, parseInt(box.dataset.interval, 10) || 5000);
    this.timer = null;
    this.inflight = false;
    this.failures = 0;
    var self = this;
    document.addEventListener("visibilitychange", function () {
      clearTimeout(self.timer);
      self.timer = null;
      if (!document.hidden) { self.poll(); }
    });
    this.schedule(this.interval);
  }

  LiveBox.prototype.schedule = function (delay) {
    clearTimeout(this.timer);
    this.timer = null;
    if (document.hidden) { return; }
    var self = this;
    this.timer = setTimeout(function () { self.poll(); }, delay);
  };

  LiveBox.prototype.poll = function () {
    var self = this;
    if (this.inflight) { return; }
    this.inflight = true;
    var address = this.url + (this.url.indexOf("?") < 0 ? "?" : "&") +
      "digest=" + encodeURIComponent(this.digest);
    fetch(address, {credentials: "same-origin",
                    headers: {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
        return response.json();
      })
      .then(function (answer) {
        self.failures = 0;
        if (answer.changed) {
          self.box.innerHTML = answer.html;  // our own template's markup
          self.digest = answer.digest;
          self.box.dataset.digest = answer.digest;
        }
      })
      .catch(function () { self.failures++; })  // e.g. logged out: back off, keep the page
      .then(function () {
        self.inflight = false;
        self.schedule(self.failures ? Math.min(self.interval * Math.pow(2, self.failures), 60000)
                                    : self.interval);
      });
  };

  function start() {
    document.querySelectorAll("[data-nf-live]").forEach(function (box) { new LiveBox(box); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
