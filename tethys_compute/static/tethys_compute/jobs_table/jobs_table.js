/*
 * tethys_compute jobs table: live updates, actions, logs and workflow graphs.
 *
 * No dependencies: plain DOM, fetch and native <dialog>; works with or without
 * Bootstrap's JavaScript (Bootstrap 5 class names for its CSS). Every URL comes from the
 * table's data attributes (reversed on the server); every text from the server is
 * inserted with textContent, or as server-rendered, escaped row HTML.
 *
 * Live updates: one request per table per refresh interval for all its unfinished rows,
 * answered with only the rows that changed; a table built from a query also sends the
 * page it shows (page, sort, search, digest) and gets that page back in the same answer
 * when matching jobs were created or deleted. No request while the page is hidden, nor
 * while no row is unfinished in a table of a fixed list.
 *
 * Logs: the dialog of an active job follows its logs: one request per refresh interval
 * for all the logs it holds, each read from the byte offset the page holds, so only new
 * output travels; a "Follow" switch stops and resumes it.
 */
(function () {
  "use strict";
  if (window.TethysJobsTable) {
    return;
  }

  var SVG = "http://www.w3.org/2000/svg";
  var timeFormat = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "medium"});
  var timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var instances = [];

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var item = parts[i].trim();
      if (item.substring(0, name.length + 1) === name + "=") {
        return decodeURIComponent(item.substring(name.length + 1));
      }
    }
    return "";
  }

  function parseRows(html) {
    var template = document.createElement("template");
    template.innerHTML = (html || "").trim();
    return Array.prototype.slice.call(template.content.children);
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function formatBytes(size) {
    if (size < 1024) { return size + " B"; }
    if (size < 1024 * 1024) { return (size / 1024).toFixed(1) + " KB"; }
    return (size / 1024 / 1024).toFixed(1) + " MB";
  }

  /* Show every <time datetime> in the viewer's own timezone. */
  function formatTimes(element) {
    element.querySelectorAll("time.tc-time[datetime]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        node.textContent = timeFormat.format(when);
        node.title = node.getAttribute("datetime") + " (shown in " + timeZone + ")";
        node.dataset.localized = "true";
      }
    });
  }

  /* Seconds as Python's str(timedelta) shows them: "H:MM:SS", "1 day, H:MM:SS". */
  function formatDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var days = Math.floor(seconds / 86400);
    var rest = seconds % 86400;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var text = Math.floor(rest / 3600) + ":" + pad(Math.floor(rest % 3600 / 60)) + ":" + pad(rest % 60);
    return days ? days + (days === 1 ? " day, " : " days, ") + text : text;
  }

  /* A workflow's DAG as SVG: one column per dependency level, coloured by status. */
  function drawGraph(container, data) {
    var colWidth = 180, rowHeight = 44, nodeWidth = 148, nodeHeight = 30, pad = 10;
    var byLevel = [];
    data.nodes.forEach(function (node) {
      (byLevel[node.level] = byLevel[node.level] || []).push(node);
    });
    var position = {};
    var tallest = 1;
    byLevel.forEach(function (column, level) {
      if (!column) { return; }
      tallest = Math.max(tallest, column.length);
      column.forEach(function (node, index) {
        position[node.id] = {x: pad + level * colWidth, y: pad + index * rowHeight};
      });
    });
    var width = pad * 2 + (byLevel.length - 1) * colWidth + nodeWidth;
    var height = pad * 2 + (tallest - 1) * rowHeight + nodeHeight;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "tc-graph-svg");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("role", "img");
    var edges = document.createElementNS(SVG, "g");
    edges.setAttribute("class", "tc-edges");
    svg.appendChild(edges);
    data.nodes.forEach(function (node) {
      var to = position[node.id];
      node.parents.forEach(function (parentId) {
        var from = position[parentId];
        if (!from) { return; }
        var x1 = from.x + nodeWidth, y1 = from.y + nodeHeight / 2;
        var x2 = to.x, y2 = to.y + nodeHeight / 2, mid = (x1 + x2) / 2;
        var path = document.createElementNS(SVG, "path");
        path.setAttribute("d", "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2);
        path.setAttribute("class", "tc-edge");
        edges.appendChild(path);
      });
    });
    data.nodes.forEach(function (node) {
      var at = position[node.id];
      var group = document.createElementNS(SVG, "g");
      group.setAttribute("class", "tc-node tc-node-" + node.group);
      group.setAttribute("transform", "translate(" + at.x + "," + at.y + ")");
      group.dataset.node = node.name;
      group.dataset.status = node.status;
      var title = document.createElementNS(SVG, "title");
      title.textContent = node.name + ": " + node.status;
      var rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("width", nodeWidth);
      rect.setAttribute("height", nodeHeight);
      rect.setAttribute("rx", 6);
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", nodeWidth / 2);
      label.setAttribute("y", nodeHeight / 2);
      label.setAttribute("dominant-baseline", "central");
      label.setAttribute("text-anchor", "middle");
      label.textContent = node.name.length > 20 ? node.name.slice(0, 19) + "…" : node.name;
      group.appendChild(title);
      group.appendChild(rect);
      group.appendChild(label);
      svg.appendChild(group);
    });
    var seen = {};
    var legend = document.createElement("div");
    legend.className = "tc-graph-legend small";
    data.nodes.forEach(function (node) {
      if (seen[node.group]) { return; }
      seen[node.group] = true;
      var item = document.createElement("span");
      item.className = "tc-legend-item tc-node-" + node.group;
      var swatch = document.createElement("span");
      swatch.className = "tc-legend-swatch";
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(node.group));
      legend.appendChild(item);
    });
    container.replaceChildren(svg, legend);
  }

  function JobsTable(root) {
    var data = root.dataset;
    this.root = root;
    this.config = data.config;
    this.rowsToken = data.rows || "";
    // A table built from a query: each poll also asks whether the page shown changed
    // (new or deleted matching jobs), named by its digest.
    this.live = data.live === "true";
    this.digest = data.digest || "";
    this.viewSeq = 0;
    this.urls = {
      poll: data.pollUrl, action: data.actionUrl, rows: data.rowsUrl,
      logs: data.logsUrl, logContent: data.logContentUrl, logFollow: data.logFollowUrl
    };
    this.logMax = parseInt(data.logMaxBytes, 10) || 256 * 1024;
    this.interval = Math.max(250, parseInt(data.refreshInterval, 10) || 5000);
    this.csrfToken = data.csrfToken || "";
    this.csrfCookie = data.csrfCookie || "csrftoken";
    this.csrfHeader = data.csrfHeader || "X-CSRFToken";
    this.tbody = root.querySelector("tbody.tc-rows");
    this.messages = root.querySelector(".tc-messages");
    this.timer = null;
    this.ticker = null;
    this.inflight = false;
    this.again = false;
    this.failures = 0;
    this.stopped = false;
    this.polls = 0;
    this.view = {page: 1, sort: null, dir: "asc", q: ""};
    this.logs = null;
    this.bind();
    this.decorate(root);
    this.schedule(0);
  }

  JobsTable.prototype.csrf = function () {
    // The cookie first: it follows a token rotated by a login in another tab.
    return readCookie(this.csrfCookie) || this.csrfToken;
  };

  JobsTable.prototype.request = function (url, options) {
    options = options || {};
    var method = options.method || "GET";
    var headers = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"};
    var body;
    if (method !== "GET") {
      headers[this.csrfHeader] = this.csrf();
    }
    if (options.json) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.form) {
      body = new URLSearchParams(options.form);
    }
    return fetch(url, {method: method, headers: headers, body: body, credentials: "same-origin"})
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (payload) {
          if (!response.ok || !payload || payload.success === false) {
            var error = new Error((payload && payload.error) ||
              ("The server answered " + response.status + " " + response.statusText + "."));
            error.status = response.status;
            throw error;
          }
          return payload;
        });
      });
  };

  /* --- live updates ---------------------------------------------------------------- */
  JobsTable.prototype.activeRows = function () {
    return this.tbody.querySelectorAll('tr.job-row[data-active="true"]');
  };

  JobsTable.prototype.schedule = function (delay) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped || document.hidden || (!this.live && !this.activeRows().length)) {
      return;
    }
    var self = this;
    this.timer = setTimeout(function () { self.poll(); }, delay === undefined ? this.interval : delay);
  };

  JobsTable.prototype.ensurePolling = function () {
    if (!this.timer && !this.inflight) {
      this.schedule();
    }
  };

  /* Poll now rather than at the next interval (after an action, which may have started
     jobs: a table built from a query shows their rows at once). A poll in flight is
     followed by another as soon as it ends. */
  JobsTable.prototype.pollSoon = function () {
    if (this.stopped || document.hidden) {
      return;
    }
    if (this.inflight) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.poll();
    if (!this.inflight) {
      this.ensurePolling();
    }
  };

  JobsTable.prototype.poll = function () {
    var self = this;
    this.timer = null;
    if (this.inflight) {
      return;
    }
    var rows = {};
    var acts = {};
    var count = 0;
    this.activeRows().forEach(function (tr) {
      rows[tr.dataset.jobId] = tr.dataset.fp;
      if (tr.dataset.acts) { acts[tr.dataset.jobId] = tr.dataset.acts; }
      count++;
    });
    if (!count && !this.live) {
      return;
    }
    var body = {config: this.config, rows: rows, acts: acts};
    var seq = this.viewSeq;
    if (this.live) {
      body.view = {page: this.view.page, sort: this.view.sort, dir: this.view.dir,
                   q: this.view.q, digest: this.digest};
      var shown = [];
      this.tbody.querySelectorAll("tr.job-row").forEach(function (tr) { shown.push(tr.dataset.jobId); });
      if (shown.length <= 1000) { body.view.shown = shown; }  // else the whole page comes back
    }
    this.inflight = true;
    this.polls++;
    this.request(this.urls.poll, {method: "POST", json: body})
      .then(function (payload) {
        self.failures = 0;
        if (payload.page) {
          // Another page was asked for meanwhile: its own answer wins.
          if (seq !== self.viewSeq) { return; }
          if (!payload.page.order) {
            self.showPage(payload.page);
            return;
          }
          self.reorderPage(payload.page);
        }
        Object.keys(payload.rows).forEach(function (id) {
          self.replaceRow(id, payload.rows[id].html);
        });
        payload.gone.forEach(function (id) { self.markGone(String(id)); });
      })
      .catch(function (error) {
        self.failures++;
        if (error.status === 400 || error.status === 401 || error.status === 403) {
          self.stopped = true;
          self.ensureTicking();
          self.showMessage("Live updates stopped: " + error.message, "warning");
        }
      })
      .then(function () {
        self.inflight = false;
        if (self.again && !self.failures) {
          self.again = false;
          self.pollSoon();
          return;
        }
        self.again = false;
        var wait = self.failures ? Math.min(self.interval * Math.pow(2, self.failures), 60000) : self.interval;
        self.schedule(wait);
      });
  };

  /* --- run times of running jobs: counted once a second in the page, no requests ---- */
  JobsTable.prototype.tickingCells = function () {
    return this.tbody.querySelectorAll('tr.job-row[data-active="true"] span.tc-elapsed[data-elapsed]');
  };

  JobsTable.prototype.ensureTicking = function () {
    if (!this.tbody) {
      return;
    }
    // Without live updates a finished job would go on counting: stop with them.
    var wanted = !this.stopped && !document.hidden && this.tickingCells().length > 0;
    if (wanted && !this.ticker) {
      var self = this;
      this.ticker = setInterval(function () { self.tick(); }, 1000);
    } else if (!wanted && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  };

  JobsTable.prototype.tick = function () {
    var now = performance.now();
    var cells = this.tickingCells();
    cells.forEach(function (node) {
      if (node.tcStartedAt !== undefined) {
        node.textContent = formatDuration((now - node.tcStartedAt) / 1000);
      }
    });
    if (!cells.length) {
      this.ensureTicking();
    }
  };

  JobsTable.prototype.onVisibility = function () {
    this.ensureTicking();
    if (this.ticker) {
      this.tick();
    }
    if (document.hidden) {
      clearTimeout(this.timer);
      this.timer = null;
    } else if (!this.timer && !this.inflight) {
      this.schedule(0);
    }
  };

  /* --- rows ------------------------------------------------------------------------- */
  JobsTable.prototype.findRow = function (id) {
    return this.tbody.querySelector('tr.job-row[data-job-id="' + CSS.escape(String(id)) + '"]');
  };

  JobsTable.prototype.findDetail = function (id) {
    return this.tbody.querySelector('tr[data-detail-for="' + CSS.escape(String(id)) + '"]');
  };

  JobsTable.prototype.replaceRow = function (id, html) {
    var old = this.findRow(id);
    if (!old) {
      return;
    }
    var detail = this.findDetail(id);
    var fresh = parseRows(html);
    var self = this;
    var wasOpen = !!old.querySelector("details.tc-actions[open]");
    if (detail) {
      detail.remove();
    }
    old.replaceWith.apply(old, fresh);
    fresh.forEach(function (row) { self.decorate(row); });
    if (wasOpen && fresh[0]) {
      // A live update must not snap shut a menu the user is looking at.
      var menu = fresh[0].querySelector("details.tc-actions");
      if (menu) {
        this.buildMenu(menu);
        menu.open = true;
      }
    }
  };

  JobsTable.prototype.removeRow = function (id) {
    var row = this.findRow(id);
    var detail = this.findDetail(id);
    if (detail) { detail.remove(); }
    if (row) { row.remove(); }
    if (!this.tbody.querySelector("tr.job-row")) {
      this.tbody.appendChild(this.noJobsRow());
    }
  };

  JobsTable.prototype.noJobsRow = function () {
    var empty = document.createElement("tr");
    empty.className = "tc-no-jobs";
    var cell = document.createElement("td");
    cell.colSpan = this.root.querySelectorAll("thead th").length;
    cell.className = "text-center text-body-secondary";
    cell.textContent = "No Jobs";
    empty.appendChild(cell);
    return empty;
  };

  JobsTable.prototype.markGone = function (id) {
    var row = this.findRow(id);
    if (!row) { return; }
    row.dataset.active = "false";
    row.classList.add("tc-row-gone");
    row.querySelectorAll("details.tc-actions").forEach(function (details) {
      details.dataset.enabled = "";
      details.querySelectorAll(".dropdown-menu").forEach(function (menu) { menu.remove(); });
    });
  };

  JobsTable.prototype.decorate = function (element) {
    formatTimes(element);
    var now = performance.now();
    element.querySelectorAll("span.tc-elapsed[data-elapsed]").forEach(function (node) {
      // Counted from this page's own clock: the browser's and the server's need not agree.
      node.tcStartedAt = now - (parseInt(node.dataset.elapsed, 10) || 0) * 1000;
    });
    this.ensureTicking();
    element.querySelectorAll(".tc-graph").forEach(function (container) {
      var script = container.parentElement.querySelector('script[type="application/json"]');
      if (script) {
        try {
          drawGraph(container, JSON.parse(script.textContent));
        } catch (error) {
          container.textContent = "The workflow graph could not be drawn.";
        }
      }
    });
  };

  /* --- messages, overlay, menus ----------------------------------------------------- */
  JobsTable.prototype.showMessage = function (text, level) {
    var alert = document.createElement("div");
    alert.className = "alert alert-" + level + " alert-dismissible tc-alert";
    alert.setAttribute("role", level === "danger" ? "alert" : "status");
    var body = document.createElement("span");
    body.className = "tc-alert-text";
    body.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close tc-alert-close";
    close.setAttribute("aria-label", "Close");
    alert.appendChild(body);
    alert.appendChild(close);
    this.messages.appendChild(alert);
    if (level === "success") {
      setTimeout(function () { alert.remove(); }, 8000);
    }
  };

  JobsTable.prototype.overlay = function (on) {
    var overlay = this.root.querySelector(".tc-overlay");
    if (overlay) { overlay.hidden = !on; }
  };

  JobsTable.prototype.closeMenus = function (except) {
    this.root.querySelectorAll("details.tc-actions[open]").forEach(function (menu) {
      if (menu !== except) { menu.removeAttribute("open"); }
    });
  };

  /* A row's menu: the table's menu template, completed with the row's enabled
     actions (data-enabled) and links (data-href-<key>). Built when first opened. */
  JobsTable.prototype.buildMenu = function (details) {
    if (details.querySelector(".dropdown-menu")) { return; }
    var template = this.root.querySelector("template.tc-menu-template");
    if (!template) { return; }
    var menu = template.content.firstElementChild.cloneNode(true);
    var enabled = (details.dataset.enabled || "").split(" ");
    menu.querySelectorAll("[data-tc-action]").forEach(function (button) {
      var key = button.dataset.tcAction;
      button.disabled = enabled.indexOf(key) < 0;
      var href = details.getAttribute("data-href-" + key);
      if (button.dataset.kind === "modal" && href) { button.dataset.modalUrl = href; }
    });
    menu.querySelectorAll("[data-tc-link]").forEach(function (link) {
      var key = link.dataset.tcLink;
      var href = details.getAttribute("data-href-" + key);
      if (href && enabled.indexOf(key) >= 0) {
        link.href = href;
      } else {
        link.classList.add("disabled");
        link.setAttribute("aria-disabled", "true");
      }
    });
    details.appendChild(menu);
  };

  JobsTable.prototype.confirm = function (message, label) {
    var dialog = this.root.querySelector(".tc-confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(message));
    }
    dialog.querySelector(".tc-confirm-message").textContent = message;
    dialog.querySelector(".tc-confirm-ok").textContent = label || "Yes";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () {
        resolve(dialog.returnValue === "ok");
      }, {once: true});
      dialog.showModal();
    });
  };

  /* --- actions ---------------------------------------------------------------------- */
  JobsTable.prototype.onAction = function (button) {
    var self = this;
    var row = button.closest("tr.job-row");
    var id = row.dataset.jobId;
    var kind = button.dataset.kind;
    if (kind === "logs") {
      this.openLogs(id, row.dataset.jobName);
      return;
    }
    if (kind === "modal") {
      this.openModal(button.dataset.modalUrl, button.dataset.label + ": " + row.dataset.jobName);
      return;
    }
    var ask = button.dataset.confirm ? this.confirm(button.dataset.confirm, button.dataset.label)
      : Promise.resolve(true);
    ask.then(function (confirmed) {
      if (!confirmed) { return; }
      var overlay = button.dataset.overlay === "true";
      if (overlay) { self.overlay(true); }
      row.setAttribute("aria-busy", "true");
      row.classList.add("tc-busy");
      self.request(self.urls.action, {method: "POST", form: {
        config: self.config, job_id: id, action: button.dataset.tcAction,
        acts: row.dataset.acts || ""
      }}).then(function (payload) {
        if (payload.removed) {
          self.removeRow(id);
        } else {
          self.replaceRow(id, payload.html);
        }
        if (payload.message) { self.showMessage(payload.message, "success"); }
        self.pollSoon();
      }).catch(function (error) {
        row.removeAttribute("aria-busy");
        row.classList.remove("tc-busy");
        self.showMessage(button.dataset.label + " failed: " + error.message, "danger");
      }).then(function () {
        if (overlay) { self.overlay(false); }
      });
    });
  };

  /* A custom action's modal_url: its HTML (a fragment, as Tethys injects it) is shown in
     a sandboxed frame (no scripts, no access to this page), styled with this page's
     stylesheets; links open in the page itself. Each answer goes into a new frame element:
     Chromium may ignore a second change of an existing frame's srcdoc made while the first
     is still loading, which left "Loading…" on screen. A slow answer for a modal since
     closed or reopened is dropped. */
  JobsTable.prototype.openModal = function (url, title) {
    var self = this;
    var dialog = this.root.querySelector(".tc-modal-dialog");
    var status = dialog.querySelector(".tc-modal-status");
    var address = new URL(url, window.location.href).href;
    var opened = (this.modalOpened || 0) + 1;
    this.modalOpened = opened;
    function current() { return self.modalOpened === opened && dialog.open; }
    function showFrame(srcdoc) {
      var old = dialog.querySelector(".tc-modal-frame");
      var frame = old.cloneNode(false);
      frame.removeAttribute("srcdoc");
      frame.hidden = srcdoc === null;
      if (srcdoc !== null) { frame.srcdoc = srcdoc; }
      old.replaceWith(frame);
    }
    function showStatus(text) {
      status.textContent = text;
      status.hidden = !text;
    }
    dialog.querySelector(".tc-dialog-title").textContent = title;
    showFrame(null);
    showStatus("Loading…");
    if (!this.modalCloseBound) {
      this.modalCloseBound = true;
      dialog.addEventListener("close", function () {
        self.modalOpened += 1;
        showFrame(null);
        showStatus("");
      });
    }
    dialog.showModal();
    fetch(address, {credentials: "same-origin", headers: {"X-Requested-With": "XMLHttpRequest"}})
      .then(function (response) {
        if (!response.ok) {
          throw new Error("The server answered " + response.status + " " + response.statusText + ".");
        }
        return response.text();
      })
      .then(function (html) {
        if (!current()) { return; }
        var head = '<meta charset="utf-8"><base href="' + escapeHtml(address) + '" target="_top">';
        document.querySelectorAll('link[rel="stylesheet"]').forEach(function (link) {
          head += '<link rel="stylesheet" href="' + escapeHtml(link.href) + '">';
        });
        showStatus("");
        showFrame("<!doctype html><html><head>" + head + '</head><body class="p-3">' +
          html + "</body></html>");
      })
      .catch(function (error) {
        if (current()) { showStatus(error.message); }
      });
  };

  /* --- logs ------------------------------------------------------------------------- */
  /* The dialog keeps, for each log it has shown (a leaf of the list), the text it holds
     (pieces: text, and markers for gaps and restarts; at most about the table's log
     limit) and the byte offset that text reaches. While the job is active and "Follow" is
     on, one request per refresh interval asks what was written to all of these logs since
     their offsets, and appends it: nothing already shown is sent again. */
  var FOLLOWED_MAX = 20;

  function logKey(leaf) { return JSON.stringify(leaf.path); }

  JobsTable.prototype.openLogs = function (id, name) {
    var dialog = this.root.querySelector(".tc-logs-dialog");
    this.stopFollowing();
    dialog.querySelector(".tc-logs-job").textContent = name || ("job " + id);
    var row = this.findRow(id);
    var active = !!this.urls.logFollow && !!row && row.dataset.active === "true";
    this.logs = {id: id, leaves: [], current: null, dialog: dialog, names: null, viewed: [],
                 active: active, follow: active, timer: null, inflight: false, seq: 0,
                 failures: 0, reloading: false};
    var toggle = dialog.querySelector(".tc-log-follow");
    if (toggle) {
      toggle.checked = active;
      toggle.disabled = !active;
      toggle.title = active ? "" : "The job is not running: its logs no longer change.";
    }
    this.logStatus("Loading…");
    dialog.querySelector(".tc-log-nav").replaceChildren();
    dialog.querySelector(".tc-log-content").textContent = "";
    dialog.querySelector(".tc-log-notice").hidden = true;
    dialog.querySelector(".tc-log-download").hidden = true;
    dialog.showModal();
    this.loadLogTree(null, false);
  };

  JobsTable.prototype.logStatus = function (text) {
    var status = this.logs.dialog.querySelector(".tc-log-status");
    status.textContent = text || "";
    status.hidden = !text;
  };

  /* The list of logs; keepPath: the log to show (else the first); keepHeld: keep the text
     and offsets held (the list changed while following) instead of reading them again. */
  JobsTable.prototype.loadLogTree = function (keepPath, keepHeld) {
    var self = this;
    var state = this.logs;
    var held = {};
    if (keepHeld) {
      state.leaves.forEach(function (leaf) { if (leaf.pieces) { held[logKey(leaf)] = leaf; } });
    }
    var query = new URLSearchParams({config: this.config, job_id: state.id});
    return this.request(this.urls.logs + "?" + query.toString()).then(function (payload) {
      if (self.logs !== state) { return; }
      state.leaves = [];
      state.names = payload.names || null;
      var nav = state.dialog.querySelector(".tc-log-nav");
      nav.replaceChildren(self.logList(payload.logs, state));
      state.leaves.forEach(function (leaf) {
        var old = held[logKey(leaf)];
        if (old) {
          ["pieces", "offset", "size", "unavailable", "truncated", "clipped"].forEach(function (name) {
            leaf[name] = old[name];
          });
        }
      });
      if (!state.leaves.length) {
        self.logStatus("");
        state.dialog.querySelector(".tc-log-content").textContent = "This job has no logs.";
        return;
      }
      var wanted = state.leaves[0];
      // The log shown now, not the one shown when the list was asked for: a log chosen
      // while the list was on its way stays chosen.
      var keep = state.current ? logKey(state.current) : keepPath;
      if (keep) {
        state.leaves.forEach(function (leaf) {
          if (logKey(leaf) === keep) { wanted = leaf; }
        });
      }
      return self.selectLog(wanted, !!keepPath && !keepHeld);
    }).catch(function (error) {
      self.logStatus("");
      state.dialog.querySelector(".tc-log-content").textContent = "";
      self.logNotice(error.message, "danger");
    });
  };

  JobsTable.prototype.logList = function (entries, state) {
    var list = document.createElement("ul");
    list.className = "tc-log-tree";
    var self = this;
    entries.forEach(function (entry) {
      var item = document.createElement("li");
      if (entry.children) {
        var heading = document.createElement("span");
        heading.className = "tc-log-group";
        heading.textContent = entry.name;
        item.appendChild(heading);
        item.appendChild(self.logList(entry.children, state));
      } else {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-sm btn-link tc-log-leaf";
        button.textContent = entry.name;
        button.dataset.logIndex = String(state.leaves.length);
        entry.button = button;
        state.leaves.push(entry);
        item.appendChild(button);
      }
      list.appendChild(item);
    });
    return list;
  };

  JobsTable.prototype.logNotice = function (text, level, link) {
    var notice = this.logs.dialog.querySelector(".tc-log-notice");
    notice.replaceChildren();
    notice.className = "tc-log-notice small alert alert-" + level + " py-1 px-2 mb-2";
    notice.appendChild(document.createTextNode(text));
    if (link) {
      notice.appendChild(document.createTextNode(" "));
      var anchor = document.createElement("a");
      anchor.href = link;
      anchor.textContent = "Download the whole log";
      anchor.setAttribute("download", "");
      notice.appendChild(anchor);
    }
    notice.hidden = false;
  };

  JobsTable.prototype.selectLog = function (leaf, force) {
    var self = this;
    var state = this.logs;
    state.current = leaf;
    state.leaves.forEach(function (other) {
      other.button.classList.toggle("active", other === leaf);
      other.button.setAttribute("aria-current", other === leaf ? "true" : "false");
    });
    var key = logKey(leaf);
    state.viewed = [key].concat(state.viewed.filter(function (k) { return k !== key; }));
    var download = state.dialog.querySelector(".tc-log-download");
    download.href = leaf.download;
    download.hidden = false;
    state.dialog.querySelector(".tc-log-notice").hidden = true;
    if (!force && leaf.pieces) {
      this.renderLog(leaf);
      this.followSoon();
      return Promise.resolve();
    }
    if (!force && leaf.content !== undefined) {
      this.holdLog(leaf, {content: leaf.content, offset: leaf.size, size: leaf.size});
      this.renderLog(leaf);
      this.followSoon();
      return Promise.resolve();
    }
    state.seq++;  // a follow answer on its way is older than this read: dropped
    this.logStatus("Loading…");
    var query = new URLSearchParams({config: this.config, job_id: state.id, path: JSON.stringify(leaf.path)});
    return this.request(this.urls.logContent + "?" + query.toString()).then(function (payload) {
      if (self.logs !== state) { return; }
      self.holdLog(leaf, payload);  // held (and followed) even if another log is shown now
      if (state.current === leaf) {
        self.renderLog(leaf);
        self.followSoon();
      }
    }).catch(function (error) {
      self.logStatus("");
      self.logNotice(error.message, "danger");
    });
  };

  /* A whole read of a log (from the list or the content endpoint) replaces what is held. */
  JobsTable.prototype.holdLog = function (leaf, payload) {
    leaf.pieces = [payload.content || ""];
    leaf.unavailable = !!payload.unavailable;
    leaf.offset = leaf.unavailable ? 0 : payload.offset;
    leaf.size = payload.size;
    leaf.truncated = !!payload.truncated;
    leaf.clipped = false;
    if (payload.download) { leaf.download = payload.download; }
  };

  function pieceNode(piece) {
    if (typeof piece === "string") { return document.createTextNode(piece); }
    var marker = document.createElement("span");
    marker.className = "tc-log-gap";
    marker.setAttribute("role", "note");
    marker.textContent = piece.gap !== undefined
      ? "… " + formatBytes(piece.gap) + " written since the last refresh are not shown (more than the display limit); download the whole log to read them …"
      : piece.marker;
    return marker;
  }

  JobsTable.prototype.renderLog = function (leaf) {
    var state = this.logs;
    if (state.current !== leaf) { return; }
    this.logStatus("");
    var pre = state.dialog.querySelector(".tc-log-content");
    var nodes = leaf.pieces.filter(function (piece) { return piece !== ""; }).map(pieceNode);
    pre.replaceChildren.apply(pre, nodes);
    pre.dataset.empty = nodes.length ? "false" : "true";
    if (!nodes.length) { pre.textContent = "(empty)"; }
    if (leaf.truncated || leaf.clipped) {
      this.logNotice(leaf.clipped ? "Only the end of this log is kept here." :
        "This log is " + formatBytes(leaf.size) + "; only its end is shown.", "warning", leaf.download);
    } else {
      state.dialog.querySelector(".tc-log-notice").hidden = true;
    }
    if (leaf.truncated || leaf.clipped || state.follow) { pre.scrollTop = pre.scrollHeight; }
  };

  /* Apply one log's follow answer to what is held; true when the whole view must be
     drawn again, else the pieces to append. */
  JobsTable.prototype.applyFollow = function (leaf, item) {
    if (item.missing || !leaf.pieces) { return []; }
    if (item.unavailable !== undefined) {
      var same = leaf.unavailable && leaf.pieces[0] === item.unavailable;
      leaf.pieces = [item.unavailable];
      leaf.unavailable = true;
      leaf.offset = item.offset;
      return !same;
    }
    var redraw = false;
    var added = [];
    if (item.reset || leaf.unavailable) {
      var had = !leaf.unavailable && leaf.offset > 0;
      leaf.pieces = had ? [{marker: "The log was truncated or replaced: it is shown again from its start."}] : [];
      if (item.content) { leaf.pieces.push(item.content); }
      leaf.unavailable = false;
      leaf.truncated = !!item.truncated;
      redraw = true;
    } else {
      if (item.skipped) { added.push({gap: item.skipped}); }
      if (item.content) { added.push(item.content); }
      leaf.pieces.push.apply(leaf.pieces, added);
    }
    leaf.offset = item.offset;
    leaf.size = item.size;
    return this.clipLog(leaf) || redraw || added;
  };

  /* Keep at most about the table's log limit of text per log: the oldest lines go. */
  JobsTable.prototype.clipLog = function (leaf) {
    var total = 0;
    leaf.pieces.forEach(function (piece) { if (typeof piece === "string") { total += piece.length; } });
    if (total <= this.logMax * 1.25) { return false; }
    var excess = total - this.logMax;
    while (excess > 0 && leaf.pieces.length > 1) {
      var first = leaf.pieces[0];
      if (typeof first !== "string") { leaf.pieces.shift(); continue; }
      if (first.length <= excess) { leaf.pieces.shift(); excess -= first.length; continue; }
      var rest = first.slice(excess);
      var line = rest.indexOf("\n");
      leaf.pieces[0] = line >= 0 && line < rest.length - 1 ? rest.slice(line + 1) : rest;
      excess = 0;
    }
    leaf.clipped = true;
    return true;
  };

  JobsTable.prototype.followSoon = function (delay) {
    var state = this.logs;
    if (!state) { return; }
    clearTimeout(state.timer);
    state.timer = null;
    if (!state.follow || !state.active || !state.dialog.open) { return; }
    var self = this;
    state.timer = setTimeout(function () { self.followLogs(state); },
      delay === undefined ? this.interval : delay);
  };

  JobsTable.prototype.followLogs = function (state) {
    var self = this;
    state.timer = null;
    if (this.logs !== state || !state.follow || !state.active || !state.dialog.open || state.inflight) {
      return;
    }
    if (document.hidden) {  // nothing asked while nobody looks
      this.followSoon();
      return;
    }
    var byKey = {};
    state.leaves.forEach(function (leaf) { byKey[logKey(leaf)] = leaf; });
    var entries = [];
    state.viewed.forEach(function (key) {
      var leaf = byKey[key];
      if (leaf && leaf.pieces && entries.length < FOLLOWED_MAX) {
        entries.push({path: leaf.path, offset: leaf.offset});
      }
    });
    if (!entries.length) {
      this.followSoon();
      return;
    }
    var seq = state.seq;
    state.inflight = true;
    var query = new URLSearchParams({config: this.config, job_id: state.id, logs: JSON.stringify(entries)});
    this.request(this.urls.logFollow + "?" + query.toString()).then(function (payload) {
      if (self.logs !== state || seq !== state.seq) { return; }
      state.failures = 0;
      var pre = state.dialog.querySelector(".tc-log-content");
      payload.logs.forEach(function (item) {
        var leaf = byKey[JSON.stringify(item.path)];
        if (!leaf) { return; }
        var change = self.applyFollow(leaf, item);
        if (leaf !== state.current) { return; }
        if (change === true || (change.length && pre.dataset.empty === "true")) {
          self.renderLog(leaf);
        } else if (change.length) {
          change.forEach(function (piece) { pre.appendChild(pieceNode(piece)); });
          if (state.follow) { pre.scrollTop = pre.scrollHeight; }
        }
      });
      if (!payload.active) {
        self.followEnded(payload.status);
      }
      if (payload.names && state.names && payload.names !== state.names && !state.reloading) {
        state.reloading = true;  // a log appeared or went: the list is read again
        self.loadLogTree(state.current ? logKey(state.current) : null, true).then(function () {
          state.reloading = false;
        });
      }
    }).catch(function (error) {
      if (self.logs !== state || seq !== state.seq) { return; }
      state.failures++;
      if ([400, 401, 403, 404, 409].indexOf(error.status) >= 0) {
        self.setFollow(false);
      }
      self.logNotice("Following the log failed: " + error.message, "danger");
    }).then(function () {
      state.inflight = false;
      var wait = state.failures ? Math.min(self.interval * Math.pow(2, state.failures), 60000) : self.interval;
      if (self.logs === state) { self.followSoon(wait); }
    });
  };

  JobsTable.prototype.setFollow = function (on) {
    var state = this.logs;
    if (!state) { return; }
    state.follow = on && state.active;
    state.seq++;  // an answer on its way when following was turned off is dropped
    var toggle = state.dialog.querySelector(".tc-log-follow");
    if (toggle) { toggle.checked = state.follow; }
    if (state.follow) {
      var pre = state.dialog.querySelector(".tc-log-content");
      pre.scrollTop = pre.scrollHeight;
      this.followSoon(0);
    } else {
      this.followSoon();  // clears the timer
    }
  };

  JobsTable.prototype.followEnded = function (status) {
    var state = this.logs;
    state.active = false;
    this.setFollow(false);
    var toggle = state.dialog.querySelector(".tc-log-follow");
    if (toggle) {
      toggle.disabled = true;
      toggle.title = "The job is " + status + ": its logs no longer change.";
    }
  };

  JobsTable.prototype.stopFollowing = function () {
    if (this.logs) {
      this.logs.seq++;
      this.logs.follow = false;
      clearTimeout(this.logs.timer);
      this.logs.timer = null;
    }
  };

  /* --- pages, sorting, search --------------------------------------------------------- */
  JobsTable.prototype.reorderPage = function (payload) {
    // The rows in payload.order: those held kept as they are (open menus, counters), the
    // others from payload.html.
    var self = this;
    var fresh = {};
    parseRows(payload.html).forEach(function (element) {
      var id = element.dataset.jobId || element.dataset.detailFor;
      if (id) { (fresh[id] = fresh[id] || []).push(element); }
    });
    var nodes = [];
    var added = [];
    payload.order.forEach(function (id) {
      id = String(id);
      var parts = fresh[id];
      if (parts) {
        added.push.apply(added, parts);
      } else {
        var row = self.findRow(id);
        parts = row ? [row] : [];
        var detail = row && self.findDetail(id);
        if (detail) { parts.push(detail); }
      }
      nodes.push.apply(nodes, parts);
    });
    this.tbody.replaceChildren.apply(this.tbody, nodes);
    if (!nodes.length) { this.tbody.appendChild(this.noJobsRow()); }
    this.setPager(payload);
    added.forEach(function (element) { self.decorate(element); });
    this.ensureTicking();
  };

  JobsTable.prototype.setPager = function (payload) {
    var pager = this.root.querySelector(".tc-pager");
    if (pager) {
      pager.replaceChildren.apply(pager, Array.prototype.slice.call(
        new DOMParser().parseFromString("<body>" + payload.pager + "</body>", "text/html").body.childNodes));
    }
    this.view.page = payload.page;
    if (payload.digest) { this.digest = payload.digest; }
  };

  JobsTable.prototype.showPage = function (payload) {
    var open = this.tbody.querySelector("details.tc-actions[open]");
    var openId = open ? open.closest("tr.job-row").dataset.jobId : null;
    this.tbody.replaceChildren.apply(this.tbody, parseRows(payload.html));
    this.setPager(payload);
    this.decorate(this.tbody);
    var row = openId && this.findRow(openId);
    var menu = row && row.querySelector("details.tc-actions");
    if (menu) {
      // A live update must not snap shut a menu the user is looking at.
      this.buildMenu(menu);
      menu.open = true;
    }
  };

  JobsTable.prototype.loadPage = function (number) {
    var self = this;
    var form = {
      config: this.config, rows: this.rowsToken, page: number,
      sort: this.view.sort === null ? "" : this.view.sort, dir: this.view.dir, q: this.view.q
    };
    this.viewSeq++;
    return this.request(this.urls.rows, {method: "POST", form: form}).then(function (payload) {
      self.showPage(payload);
      self.root.querySelectorAll("th[aria-sort]").forEach(function (th) {
        var button = th.querySelector(".tc-sort");
        var on = button && String(self.view.sort) === button.dataset.sort;
        th.setAttribute("aria-sort", on ? (self.view.dir === "desc" ? "descending" : "ascending") : "none");
      });
      self.schedule(self.interval);
    }).catch(function (error) {
      self.showMessage(error.message, "danger");
    });
  };

  /* --- events ----------------------------------------------------------------------- */
  JobsTable.prototype.bind = function () {
    var self = this;
    var root = this.root;
    root.addEventListener("click", function (event) {
      var target = event.target;
      var action = target.closest("[data-tc-action]");
      if (action && root.contains(action)) {
        event.preventDefault();
        self.closeMenus();
        if (!action.disabled) { self.onAction(action); }
        return;
      }
      var close = target.closest(".tc-alert-close");
      if (close) {
        close.parentElement.remove();
        return;
      }
      var sort = target.closest("button.tc-sort");
      if (sort) {
        var index = parseInt(sort.dataset.sort, 10);
        self.view.dir = self.view.sort === index && self.view.dir === "asc" ? "desc" : "asc";
        self.view.sort = index;
        self.loadPage(1);
        return;
      }
      var page = target.closest("[data-page]");
      if (page && !page.disabled) {
        self.loadPage(parseInt(page.dataset.page, 10));
        return;
      }
      var leaf = target.closest(".tc-log-leaf");
      if (leaf && self.logs) {
        self.selectLog(self.logs.leaves[parseInt(leaf.dataset.logIndex, 10)], false);
      }
    });
    root.addEventListener("click", function (event) {
      var summary = event.target.closest && event.target.closest("details.tc-actions > summary");
      if (summary) { self.buildMenu(summary.parentElement); }
    }, true);
    root.addEventListener("toggle", function (event) {
      if (event.target.matches && event.target.matches("details.tc-actions") && event.target.open) {
        self.buildMenu(event.target);
        self.closeMenus(event.target);
      }
    }, true);
    document.addEventListener("click", function (event) {
      if (!event.target.closest || !event.target.closest("details.tc-actions")) {
        self.closeMenus();
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { self.closeMenus(); }
    });
    document.addEventListener("visibilitychange", function () { self.onVisibility(); });
    var refresh = root.querySelector(".tc-log-refresh");
    if (refresh) {
      refresh.addEventListener("click", function () {
        if (self.logs) {
          var current = self.logs.current ? logKey(self.logs.current) : null;
          self.logStatus("Loading…");
          self.loadLogTree(current, false);
        }
      });
    }
    var follow = root.querySelector(".tc-log-follow");
    if (follow) {
      follow.addEventListener("change", function () { self.setFollow(follow.checked); });
    }
    var logsDialog = root.querySelector(".tc-logs-dialog");
    if (logsDialog) {
      logsDialog.addEventListener("close", function () { self.stopFollowing(); });
    }
    var search = root.querySelector(".tc-search");
    if (search) {
      var pending = null;
      search.addEventListener("input", function () {
        clearTimeout(pending);
        pending = setTimeout(function () {
          self.view.q = search.value;
          self.loadPage(1);
        }, 300);
      });
    }
  };

  function init(element) {
    if (!element || element.dataset.tcReady) { return null; }
    element.dataset.tcReady = "true";
    var table = new JobsTable(element);
    instances.push(table);
    return table;
  }

  function initAll() {
    document.querySelectorAll("[data-tc-jobs-table]").forEach(init);
  }

  window.TethysJobsTable = {init: init, initAll: initAll, instances: instances};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initAll);
  } else {
    initAll();
  }
})();
