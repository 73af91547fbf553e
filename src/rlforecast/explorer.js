// rlforecast scenario explorer. Two parts:
//
// RLF: the in-browser kernel, a line-by-line mirror of the Python code that `rlforecast forecast` runs, on the
//   same embedded draws (so a preset's numbers here are the command's numbers):
//     transform / drawValues  <- scenarios/spec.py transform, draw_values (common random numbers per key)
//     pathParams              <- scenarios/spec.py path_params (log10 coefficients; absent caps are +Infinity)
//     rlPath / inferencePath  <- scenarios/kernels.py rl_path, inference_path
//     arrivals                <- propagate.carried + kernels.threshold_eta + kernels.first_crossing
//     quantileMonth / pByEnd  <- scenarios/tables.py histogram_quantile, p_by_end_of
//   Months are indices on the monthly grid from the start; nMonths means "not by the horizon".
//
// The UI: native, labelled form controls (keyboard-reachable), Bokeh figures updated through their data
// sources, tables, and the two exports (scenario TOML that `rlforecast forecast` reads, quantiles CSV in the
// format of arrival_quantiles.csv).
"use strict";

const RLF = (() => {
  function decode(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new Float64Array(bytes.buffer);
  }

  // One number or distribution table pushed through the key's uniforms u (and their normal scores z).
  function transform(value, u, z, z90) {
    const n = u.length, out = new Float64Array(n);
    if (typeof value === "number") { out.fill(value); return out; }
    const d = value.dist;
    for (let i = 0; i < n; i++) {
      if (d === "normal") out[i] = value.mu + value.sigma * z[i];
      else if (d === "lognormal") out[i] = value.median * 10.0 ** (value.sigma_log10 * z[i]);
      else if (d === "uniform") out[i] = value.low + (value.high - value.low) * u[i];
      else if (d === "loguniform") out[i] = value.low * (value.high / value.low) ** u[i];
      else out[i] = Math.sqrt(value.low * value.high) * 10.0 ** (Math.log10(value.high / value.low) / (2 * z90) * z[i]);
    }
    return out;
  }

  function drawValues(settings, data) {
    const out = {};
    for (const [key, value] of Object.entries(settings)) {
      const x = transform(value, data.u[key], data.z[key], data.z90), floor = data.params[key].floor;
      for (let i = 0; i < x.length; i++) x[i] = Math.max(x[i], floor);
      out[key] = x;
    }
    return out;
  }

  function pathParams(values, n) {
    const lg = (key) => (key in values ? values[key].map(Math.log10) : null);
    const full = (v) => new Float64Array(n).fill(v);
    const diff = (a, b) => a.map((x, i) => x - b[i]);
    const budget = lg("inference.budget_usd_per_task");
    const decline = lg("inference.price_decline_per_year") || full(0), grows = lg("inference.budget_growth_per_year") || full(0);
    return {
      rl_growth: lg("rl.growth_per_year"),
      training_growth: lg("training.growth_per_year") || full(0),
      cap_headroom: "rl.max_ratio" in values ? diff(lg("rl.max_ratio"), lg("rl.ratio_today")) : full(Infinity),
      training_headroom: "training.max_flop" in values ? diff(lg("training.max_flop"), lg("training.flop_today")) : full(Infinity),
      token_growth: lg("inference.tokens_growth_per_year"),
      budget_headroom: budget ? diff(budget, lg("inference.cost_usd_per_task_today")) : full(Infinity),
      budget_growth: decline.map((x, i) => x + grows[i]),
      max_multiple: lg("inference.max_tokens_multiple") || full(Infinity),
      trend_share: values["other.trend_share"] || full(0),
    };
  }

  function rlPath(t, g, tg, ch, th) {
    const cap = Math.min(ch + tg * t, ch + th);
    return Math.min(g * t, Math.max(cap, 0.0));
  }

  function inferencePath(t, g, bh, bg, mm) {
    const budget = Math.max(bh + bg * t, 0.0);
    return Math.min(Math.min(g * t, budget), mm);
  }

  function thresholdEta(thr, floor, ceiling) {
    if (thr >= ceiling) return Infinity;
    if (thr <= floor) return -Infinity;
    const share = (thr - floor) / (ceiling - floor);
    return Math.log(share) - Math.log1p(-share);
  }

  // Arrival months: result[j][k] is an Int32Array over draws for benchmark j and its k-th level. Other
  // progress (fits with a progress term): c = trend share x progress rate, logits per year. ``after``: the
  // coefficients after the start when they differ from ``pp`` (driver counterfactuals, propagate.driver_counts:
  // the carry to the start is history and keeps ``pp``).
  function arrivals(state, floors, levels, pp, nMonths, after = pp) {
    const n = pp.rl_growth.length, nb = floors.length;
    const rl = new Float64Array(nMonths), inf = new Float64Array(nMonths);
    const out = levels.map((lv) => lv.map(() => new Int32Array(n)));
    for (let i = 0; i < n; i++) {
      for (let m = 0; m < nMonths; m++) {
        const t = m / 12.0;
        rl[m] = rlPath(t, after.rl_growth[i], after.training_growth[i], after.cap_headroom[i], after.training_headroom[i]);
        inf[m] = inferencePath(t, after.token_growth[i], after.budget_headroom[i], after.budget_growth[i], after.max_multiple[i]);
      }
      for (let j = 0; j < nb; j++) {
        const a = state.slope_rl[j][i], b = state.slope_inf[j][i], lag = state.lag[j];
        const c0 = state.progress_rate ? pp.trend_share[i] * state.progress_rate[j][i] : null;
        const c = state.progress_rate ? after.trend_share[i] * state.progress_rate[j][i] : null;
        let e0 = state.eta_anchor[j][i] + a * (pp.rl_growth[i] * lag) + b * (pp.token_growth[i] * lag);
        if (c0 !== null) e0 = e0 + c0 * lag;
        for (let k = 0; k < levels[j].length; k++) {
          const need = thresholdEta(levels[j][k], floors[j], state.ceiling[j][i]) - e0;
          out[j][k][i] = firstMonth(rl, inf, a, b, c, need, nMonths);
        }
      }
    }
    return out;
  }

  // First month with a * rl + b * inf (+ c * m / 12) >= need: nMonths if never. Paths are non-decreasing, so
  // with c >= 0 (or none) eta is monotone and a binary search finds it; a negative c is scanned month by month.
  function firstMonth(rl, inf, a, b, c, need, nMonths) {
    const gain = c === null ? (m) => rl[m] * a + inf[m] * b : (m) => rl[m] * a + inf[m] * b + c * (m / 12.0);
    if (c !== null && c < 0) {
      for (let m = 0; m < nMonths; m++) if (!(gain(m) < need)) return m;
      return nMonths;
    }
    if (!(gain(0) < need)) return 0;
    if (gain(nMonths - 1) < need) return nMonths;
    let lo = 0, hi = nMonths - 1;  // below at lo, reached at hi
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (gain(mid) < need) lo = mid; else hi = mid;
    }
    return hi;
  }

  function quantileMonth(sorted, q) {
    const rank = Math.max(Math.ceil(Math.round(sorted.length * q * 1e9) / 1e9), 1);
    return sorted[rank - 1];
  }

  function pByEnd(months, year, startMonth, nMonths) {
    const last = Math.min(year * 12 + 11 - startMonth, nMonths - 1);
    if (last < 0) return 0.0;
    let c = 0;
    for (const m of months) if (m <= last) c++;
    return c / months.length;
  }

  // Python's f"{x:.6g}" (tables._num) for the numbers the CSV export writes.
  function fmtG(x) {
    if (x === 0) return "0";
    const e = Number(x.toExponential(5).split("e")[1]);
    if (e < -4 || e >= 6) {
      const [mant, exp] = x.toExponential(5).split("e");
      const ex = Number(exp);
      return mant.replace(/\.?0+$/, "") + "e" + (ex < 0 ? "-" : "+") + String(Math.abs(ex)).padStart(2, "0");
    }
    return String(Number(x.toPrecision(6)));
  }

  // tables.earlier_by: median months without a driver minus with every driver, as years to one decimal
  // (halves to even, as Python formats them); ">x y" when without it the median is after the horizon.
  function earlierBy(sortedAll, sortedWithout, nMonths) {
    const mAll = quantileMonth(sortedAll, 0.5), mWo = quantileMonth(sortedWithout, 0.5);
    if (mAll >= nMonths) return "";
    const years = (months) => {
      const num = months * 10, q = Math.floor(num / 12), r = num - 12 * q;
      const tenths = 2 * r > 12 ? q + 1 : 2 * r < 12 ? q : q + (q % 2);
      return (tenths / 10).toFixed(1);
    };
    return mWo >= nMonths ? `>${years(nMonths - mAll)} y` : `${years(mWo - mAll)} y`;
  }

  return { decode, transform, drawValues, pathParams, arrivals, firstMonth, quantileMonth, pByEnd, fmtG, earlierBy };
})();

// ------------------------------------------------------------------------------------------------ the page
const EXPLORER = (() => {
  const P = JSON.parse(document.getElementById("rlf-data").textContent);
  const FIGURES = JSON.parse(document.getElementById("rlf-figures").textContent);
  const data = { params: P.params, z90: P.z90, u: {}, z: {} };
  for (const key of Object.keys(P.params)) { data.u[key] = RLF.decode(P.uniforms[key]); data.z[key] = RLF.decode(P.normals[key]); }
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, text = "") => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  };
  const variants = P.variants.map((v) => ({
    ...v,
    states: v.states.map((s) => {
      const split = (b64) => { const a = RLF.decode(b64); return v.benchmarks.map((_, j) => a.subarray(j * P.n_draws, (j + 1) * P.n_draws)); };
      return { eta_anchor: split(s.eta_anchor), slope_rl: split(s.slope_rl), slope_inf: split(s.slope_inf),
               ceiling: split(s.ceiling), progress_rate: s.progress_rate ? split(s.progress_rate) : null,
               lag: s.lag, anchor_model: s.anchor_model, anchor_date: s.anchor_date };
    }),
  }));

  let settings = {}, presetIndex = 0, presetResult = null, current = null, figures = null;

  const clone = (x) => JSON.parse(JSON.stringify(x));
  const variant = () => variants[Number($("variant").value)];
  const yearText = (abs) => (abs / 12).toFixed(4);
  const monthText = (abs) => `${MONTHS[abs % 12]} ${Math.floor(abs / 12)}`;
  const pct = (p) => {  // tables._pct: "<1%" / ">99%" near the ends, halves rounded to even as Python does
    if (p > 0 && p < 0.005) return "<1%";
    if (p > 0.995 && p < 1) return ">99%";
    const x = 100 * p, f = Math.floor(x);
    return `${x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x)}%`;
  };
  const sig3 = (x) => Number(x.toPrecision(3));

  function sourcedLevel(bench, thr) { return (P.sourced[bench] || []).find((x) => x.level === thr); }
  function meaning(bench, thr) { return (sourcedLevel(bench, thr) || {}).label || ""; }
  function levelText(bench, thr) { const m = meaning(bench, thr); return m ? `${thr} (${m})` : String(thr); }
  function levelsOf(v) { return v.benchmarks.map((b) => P.levels[b]); }
  function met(v, j, thr) { return thr <= v.best_accuracy[j]; }

  const DRIVERS = { rl: ["RL compute", ["rl_growth"]], inference: ["inference compute", ["token_growth"]],
                    other: ["other progress", ["trend_share"]] };

  // Arrival months under ``values``; with ``drivers``, also with each driver switched off after the start.
  function compute(values, stateIndex, drivers = false) {
    const v = variant(), state = v.states[stateIndex];
    const t0 = performance.now();
    const pp = RLF.pathParams(RLF.drawValues(values, data), P.n_draws);
    const sortAll = (months) => months.map((per) => per.map((m) => Int32Array.from(m).sort()));
    const sorted = sortAll(RLF.arrivals(state, v.floor, levelsOf(v), pp, P.n_months));
    const without = {};
    if (drivers) {
      const active = ["rl", "inference", ...(v.progress && pp.trend_share.some((x) => x > 0) ? ["other"] : [])];
      for (const d of active) {
        const after = { ...pp };
        for (const k of DRIVERS[d][1]) after[k] = pp[k].map((x) => x * 0.0);
        without[d] = sortAll(RLF.arrivals(state, v.floor, levelsOf(v), pp, P.n_months, after));
      }
    }
    return { sorted, without, ms: performance.now() - t0 };
  }

  // ---------------------------------------------------------------------------------------- controls
  function fieldControl(key, field, value) {
    const spec = P.params[key], id = `${key}.${field}`.replace(/\./g, "-");
    const logScale = !field.startsWith("sigma") && !spec.linear;
    const wrap = el("div", { class: "field" });
    const label = el("label", { for: `r-${id}`, id: `l-${id}` }, field === "value" ? "value" : field.replace("_", " "));
    const range = el("input", { type: "range", id: `r-${id}`, "data-key": key, "data-field": field,
                                "aria-describedby": `d-${key.replace(/\./g, "-")}` });
    const number = el("input", { type: "number", id: `n-${id}`, "aria-label": `${spec.label}, ${field} (${spec.unit})`,
                                 step: "any", "data-key": key, "data-field": field });
    if (logScale) {
      range.min = spec.span[0]; range.max = spec.span[1]; range.step = 0.01;
      range.value = Math.log10(Math.max(value, 10 ** spec.span[0]));
    } else if (spec.linear) {
      range.min = spec.span[0]; range.max = spec.span[1]; range.step = 0.05; range.value = value;
    } else {
      range.min = 0.01; range.max = 2; range.step = 0.01; range.value = value;
    }
    number.value = String(value);
    range.setAttribute("aria-valuetext", `${value} ${spec.unit}`);
    range.addEventListener("input", () => {
      const x = logScale ? sig3(10 ** Number(range.value)) : Number(range.value);
      number.value = String(x);
      range.setAttribute("aria-valuetext", `${x} ${spec.unit}`);
      setField(key, field, x);
    });
    number.addEventListener("change", () => {
      const x = Number(number.value);
      if (!Number.isFinite(x)) return;
      if (logScale && x > 0) range.value = Math.log10(x); else if (!logScale) range.value = x;
      range.setAttribute("aria-valuetext", `${x} ${spec.unit}`);
      setField(key, field, x);
    });
    wrap.append(label, range, number);
    return wrap;
  }

  function paramBlock(key, value) {
    const spec = P.params[key], id = key.replace(/\./g, "-");
    const box = el("div", { class: "param", id: `p-${id}` });
    const dist = el("select", { id: `s-${id}`, "aria-label": `${spec.label}: distribution` });
    for (const d of ["fixed", ...Object.keys(P.dists)]) dist.append(el("option", { value: d }, d === "interval80" ? "interval80 (80% range)" : d));
    dist.value = typeof value === "number" ? "fixed" : value.dist;
    dist.addEventListener("change", () => { settings[key] = defaultFor(settings[key], dist.value); renderGroups(); update(); });
    const head = el("div", { class: "row" });
    head.append(el("span", { class: "param-name", id: `d-${id}` }, `${spec.label} (${spec.unit})`), dist);
    box.append(head);
    const fields = typeof value === "number" ? { value } : Object.fromEntries(P.dists[value.dist].map((f) => [f, value[f]]));
    for (const [f, x] of Object.entries(fields)) box.append(fieldControl(key, f, x));
    return box;
  }

  function defaultFor(old, dist) {
    const mid = typeof old === "number" ? old : old.dist === "normal" ? old.mu : old.dist === "lognormal" ? old.median
      : Math.sqrt(old.low * old.high);
    if (dist === "fixed") return sig3(mid);
    if (dist === "normal") return { dist, mu: sig3(mid), sigma: sig3(mid / 4) };
    if (dist === "lognormal") return { dist, median: sig3(mid), sigma_log10: 0.2 };
    return { dist, low: sig3(mid / 2), high: sig3(mid * 2) };
  }

  function presetValue(key) {
    const pv = P.presets[presetIndex].values;
    if (key in pv) return clone(pv[key]);
    const fallback = { "rl.max_ratio": 1, "rl.ratio_today": 0.3, "training.growth_per_year": 4.5, "training.flop_today": 5e26,
                       "training.max_flop": 2e29, "inference.max_tokens_multiple": 1000, "inference.budget_usd_per_task": 17,
                       "inference.cost_usd_per_task_today": 0.5, "inference.price_decline_per_year": 3,
                       "inference.budget_growth_per_year": 1, "other.trend_share": 1 };
    return fallback[key];
  }

  function renderGroups() {
    const root = $("groups");
    root.replaceChildren();
    P.groups.forEach((g, gi) => {
      if (!variant().progress && g.keys.some((k) => k.startsWith("other."))) return;  // no trend in this fit
      const on = g.keys.some((k) => k in settings);
      const fs = el("fieldset", { id: `g-${gi}`, class: on ? "" : "off" });
      const legend = el("legend");
      if (g.optional) {
        const box = el("input", { type: "checkbox", id: `use-${gi}` });
        box.checked = on;
        box.addEventListener("change", () => {
          for (const k of g.keys) { if (box.checked) settings[k] = presetValue(k); else delete settings[k]; }
          renderGroups(); update();
        });
        legend.append(box, el("label", { for: `use-${gi}` }, ` ${g.title}`));
      } else legend.textContent = g.title;
      fs.append(legend);
      if (on) for (const k of g.keys) fs.append(paramBlock(k, settings[k]));
      root.append(fs);
    });
  }

  function setField(key, field, x) {
    if (field === "value") settings[key] = x; else settings[key][field] = x;
    update();
  }

  function problems(values) {
    const out = [];
    for (const [key, v] of Object.entries(values)) {
      const spec = P.params[key], inclusive = spec.floor === spec.minimum;
      const ok = (x) => (inclusive ? x >= spec.minimum : x > spec.minimum);
      const name = spec.label;
      const check = (field, x) => { if (!Number.isFinite(x) || !ok(x)) out.push(`${name}, ${field}: must be ${inclusive ? ">=" : ">"} ${spec.minimum} (${spec.unit})`); };
      if (typeof v === "number") { check("value", v); continue; }
      if (v.dist === "normal") { check("mu", v.mu); if (!(v.sigma > 0)) out.push(`${name}, sigma: must be > 0`); }
      else if (v.dist === "lognormal") { check("median", v.median); if (!(v.sigma_log10 > 0)) out.push(`${name}, sigma_log10: must be > 0`); }
      else { check("low", v.low); if (!(v.low < v.high)) out.push(`${name}: low must be < high`); }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------- results
  function update() {
    const issues = problems(settings);
    $("problems").textContent = issues.join("; ");
    for (const id of ["export-toml", "export-csv"]) $(id).disabled = issues.length > 0;  // never export stale numbers
    if (issues.length) { $("status").textContent = "Settings not valid: nothing recomputed, nothing to export."; return; }
    current = compute(settings, variant().preset_state[presetIndex], true);
    render();
    $("status").textContent = `Recomputed ${P.n_draws} draws x ${variant().benchmarks.length} benchmarks in ${current.ms.toFixed(1)} ms.`;
  }

  function selectPreset(i) {
    if (P.presets[i].needs_progress && !variant().progress) i = reference();
    $("preset").value = String(i);
    presetIndex = i;
    settings = clone(P.presets[i].values);
    $("preset-description").textContent = P.presets[i].description;
    presetResult = compute(settings, variant().preset_state[i]);
    renderGroups();
    update();
  }

  function renderBenchmarks() {  // keeps the benchmark chosen (by name) when it is still there
    const v = variant(), sel = $("benchmark");
    const keep = sel.selectedIndex >= 0 ? sel.options[sel.selectedIndex].dataset.name : null;
    sel.replaceChildren();
    const order = v.benchmarks.map((b, j) => ({ b, j, open: P.levels[b].some((thr) => !met(v, j, thr)) }))
      .sort((x, y) => (y.open - x.open) || x.b.localeCompare(y.b));
    for (const { b, j, open } of order) sel.append(el("option", { value: String(j), "data-name": b }, open ? b : `${b} (every threshold met)`));
    const again = order.find((o) => o.b === keep);
    sel.value = again ? String(again.j) : String(order[0].j);
  }

  function renderThresholds() {  // keeps the level chosen (by value) when the benchmark has it
    const v = variant(), j = Number($("benchmark").value), sel = $("threshold");
    const keep = sel.selectedIndex >= 0 ? Number(sel.options[sel.selectedIndex].dataset.level) : null;
    sel.replaceChildren();
    P.levels[v.benchmarks[j]].forEach((thr, k) => sel.append(el("option", { value: String(k), "data-level": String(thr) },
      `${levelText(v.benchmarks[j], thr)}${met(v, j, thr) ? ": met" : ""}`)));
    const firstOpen = P.levels[v.benchmarks[j]].findIndex((thr) => !met(v, j, thr));
    const again = P.levels[v.benchmarks[j]].indexOf(keep);
    sel.value = String(again >= 0 ? again : Math.max(firstOpen, 0));
  }

  function cell(text, attrs = {}) { return el("td", attrs, text); }

  function render() {
    const v = variant(), j = Number($("benchmark").value), bench = v.benchmarks[j];
    const state = v.states[variant().preset_state[presetIndex]];
    $("frontier").textContent = `Frontier: best observed ${sig3(v.best_accuracy[j])} by ${v.best_model[j]}` +
      `${v.best_date[j] ? ` (released ${v.best_date[j]})` : ""}; the forecast carries the anchor ${state.anchor_model[j]} ` +
      `${(12 * state.lag[j]).toFixed(0)} months to the start at the scenario's growth rates. Thresholds at or below the best ` +
      "observed accuracy are met at the forecast date.";
    const levels = P.levels[bench], n = P.n_months;
    // quantile table
    const head = el("tr");
    const drivers = Object.keys(current.without);
    for (const h of ["threshold", "status", "median", "80% interval", ...P.policy_years.map((y) => `P(by ${y})`),
                     `P(not by ${P.horizon})`, ...drivers.map((d) => `earlier by ${DRIVERS[d][0]}`)])
      head.append(el("th", { scope: "col" }, h));
    $("quantile-table").tHead.replaceChildren(head);
    const body = $("quantile-table").tBodies[0];
    body.replaceChildren();
    levels.forEach((thr, k) => {
      const s = current.sorted[j][k], row = el("tr", met(v, j, thr) ? { class: "met" } : {});
      row.append(el("th", { scope: "row", "data-level": String(thr) }, levelText(bench, thr)));
      if (met(v, j, thr)) {  // an observed fact, not a forecast
        row.append(cell("met at the forecast date"), cell(`observed ${sig3(v.best_accuracy[j])}`),
                   cell(`${v.best_model[j]}${v.best_date[j] ? `, ${v.best_date[j]}` : ""}`),
                   ...P.policy_years.map(() => cell("met")), cell(""), ...drivers.map(() => cell("")));
        body.append(row);
        return;
      }
      const q = (p) => { const m = RLF.quantileMonth(s, p); return m < n ? P.start_month + m : null; };
      const never = 1 - RLF.pByEnd(s, P.horizon, P.start_month, n);
      const med = q(0.5), lo = q(0.1), hi = q(0.9);
      row.append(cell(never === 1 ? "not by the horizon in any draw" : "forecast"),
        cell(med === null ? `after ${P.horizon}` : monthText(med), { "data-year": med === null ? "" : yearText(med) }),
        cell(`${lo === null ? `after ${P.horizon}` : monthText(lo)} – ${hi === null ? `after ${P.horizon}` : monthText(hi)}`,
             { "data-years": `${lo === null ? "" : yearText(lo)},${hi === null ? "" : yearText(hi)}` }));
      for (const y of P.policy_years) {
        const p = RLF.pByEnd(s, y, P.start_month, n);
        row.append(cell(pct(p), { "data-p": RLF.fmtG(p) }));
      }
      row.append(cell(pct(never), { "data-p": RLF.fmtG(never) }));
      for (const d of drivers) row.append(cell(RLF.earlierBy(s, current.without[d][j][k], n), { "data-driver": d }));
      body.append(row);
    });
    const notes = (P.sourced[bench] || []).map((x) =>
      `${x.level} = ${x.label}: ${x.source}${x.note ? ` (${x.note})` : ""}.`);
    $("sources").textContent = notes.length ? `Published human baselines: ${notes.join(" ")}` : "";
    renderOverview(v);
    drawFigures(v, j);
  }

  function renderOverview(v) {
    const head = el("tr");
    for (const h of ["benchmark", "best observed", "threshold", "median", `P(by ${P.policy_years[1]})`, `P(not by ${P.horizon})`])
      head.append(el("th", { scope: "col" }, h));
    $("overview-table").tHead.replaceChildren(head);
    const body = $("overview-table").tBodies[0];
    body.replaceChildren();
    v.benchmarks.forEach((b, j) => {
      const k = P.levels[b].findIndex((thr) => !met(v, j, thr)), row = el("tr", k < 0 ? { class: "met" } : {});
      row.append(el("th", { scope: "row" }, b), cell(String(sig3(v.best_accuracy[j]))));
      if (k < 0) { row.append(cell("every threshold met"), cell(""), cell(""), cell("")); body.append(row); return; }
      const s = current.sorted[j][k], m = RLF.quantileMonth(s, 0.5), never = 1 - RLF.pByEnd(s, P.horizon, P.start_month, P.n_months);
      row.append(cell(levelText(b, P.levels[b][k])), cell(m < P.n_months ? monthText(P.start_month + m) : `after ${P.horizon}`),
        cell(pct(RLF.pByEnd(s, P.policy_years[1], P.start_month, P.n_months))), cell(pct(never)));
      body.append(row);
    });
  }

  function cdfLine(sorted) {
    const n = P.n_months, ys = new Array(n), total = sorted.length;
    let c = 0;
    for (let m = 0; m < n; m++) { while (c < total && sorted[c] <= m) c++; ys[m] = c / total; }
    return ys;
  }

  function drawFigures(v, j) {
    if (!figures) return;
    const bench = v.benchmarks[j], levels = P.levels[bench];
    const xs = Array.from({ length: P.n_months }, (_, m) => (P.start_month + m) / 12);
    const src = { xs: [], ys: [], color: [], dash: [], label: [] };
    levels.forEach((thr, k) => {
      for (const [res, dash, tag] of [[current, "solid", "current"], [presetResult, "dashed", P.presets[presetIndex].name]]) {
        src.xs.push(xs); src.ys.push(cdfLine(res.sorted[j][k])); src.color.push(COLORS[k % COLORS.length]);
        src.dash.push(dash); src.label.push(`${thr}: ${tag}`);
      }
    });
    figures.cdf.data = src;
    const k = Number($("threshold").value), years = [];
    for (let y = Math.floor(P.start_month / 12); y <= P.horizon; y++) years.push(y);
    figures.years.data = {
      year: years,
      current: years.map((y) => RLF.pByEnd(current.sorted[j][k], y, P.start_month, P.n_months)),
      preset: years.map((y) => RLF.pByEnd(presetResult.sorted[j][k], y, P.start_month, P.n_months)),
    };
  }

  // ---------------------------------------------------------------------------------------- exports
  function tomlValue(v) {
    if (typeof v === "number") return String(v);
    return "{" + ["dist", ...P.dists[v.dist]].map((f) => `${f} = ${f === "dist" ? JSON.stringify(v.dist) : String(v[f])}`).join(", ") + "}";
  }

  function scenarioName() {
    const preset = P.presets[presetIndex];
    return JSON.stringify(settings) === JSON.stringify(preset.values) ? preset.name : `${preset.name}-custom`;
  }

  function scenarioToml() {
    const preset = P.presets[presetIndex];
    const lines = [`# written by the rlforecast explorer from the preset ${preset.name} (${preset.path})`,
                   `name = ${JSON.stringify(scenarioName())}`,
                   `description = ${JSON.stringify(`explorer settings starting from ${preset.name}: ${preset.description}`)}`,
                   ...(P.start_explicit ? [`start = ${P.start}`] : []),
                   `horizon = ${P.horizon}`];
    for (const section of ["rl", "training", "inference", "other"]) {
      const keys = Object.keys(settings).filter((k) => k.startsWith(section + ".")).sort();
      if (!keys.length) continue;
      lines.push("", `[${section}]`);
      for (const k of keys) lines.push(`${k.slice(section.length + 1)} = ${tomlValue(settings[k])}`);
    }
    const anchors = Object.entries(preset.anchors);
    if (anchors.length) {
      lines.push("", "[anchor]");
      for (const [b, m] of anchors) lines.push(`${JSON.stringify(b)} = ${JSON.stringify(m)}`);
    }
    return lines.join("\n") + "\n";
  }

  function quantilesCsv() {
    const v = variant(), name = scenarioName(), rows = ["scenario,benchmark,threshold,quantile,year"];
    v.benchmarks.forEach((b, j) => P.levels[b].forEach((thr, k) => {
      for (const q of P.quantiles) {
        const m = RLF.quantileMonth(current.sorted[j][k], q);
        rows.push([name, b, RLF.fmtG(thr), RLF.fmtG(q), m < P.n_months ? yearText(P.start_month + m) : ""].map(csvField).join(","));
      }
    }));
    return rows.join("\n") + "\n";
  }

  function csvField(x) {  // quoted as Python's csv writer quotes (only when needed)
    return /[",\n\r]/.test(x) ? `"${x.replace(/"/g, '""')}"` : x;
  }

  function download(text, name, type) {
    const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    document.body.append(a);
    a.click();
    a.remove();
  }

  // ---------------------------------------------------------------------------------------- start
  function switchVariant() {  // the reader's settings stay; other progress goes when the fit has no trend
    markPresets();
    renderBenchmarks();
    renderThresholds();
    if (P.presets[presetIndex].needs_progress && !variant().progress) { selectPreset(reference()); return; }
    if (!variant().progress) for (const k of Object.keys(settings)) if (k.startsWith("other.")) delete settings[k];
    presetResult = compute(clone(P.presets[presetIndex].values), variant().preset_state[presetIndex]);
    renderGroups();
    update();
  }

  function reference() {
    const i = P.presets.findIndex((p) => p.name === "rl-to-parity" && !(p.needs_progress && !variant().progress));
    return i >= 0 ? i : Math.max(P.presets.findIndex((p) => !p.needs_progress || variant().progress), 0);
  }

  function markPresets() {  // presets with other progress need a fit with a progress term
    Array.from($("preset").options).forEach((o, i) => {
      const off = P.presets[i].needs_progress && !variant().progress;
      o.disabled = off;
      o.textContent = P.presets[i].name + (off ? " (needs a fit with a progress term)" : "");
    });
  }

  function init() {
    const sel = $("variant");
    variants.forEach((v, i) => sel.append(el("option", { value: String(i) }, `${v.name}${v.converged ? "" : " (UNCONVERGED)"}`)));
    P.presets.forEach((p, i) => $("preset").append(el("option", { value: String(i) }, p.name)));
    $("summary").textContent = `Forecast from ${P.start} to the end of ${P.horizon}; ${P.n_draws} joint draws (posterior x ` +
      `scenario parameters, seed ${P.seed}); rlforecast ${P.package_version}. Fits: ` +
      variants.map((v) => `${v.name} (${v.fit}, sha256 ${v.sha256.slice(0, 12)}, diagnostics ${v.converged ? "passed" : "FAILED"})`).join("; ") + ".";
    sel.addEventListener("change", switchVariant);
    $("preset").addEventListener("change", () => selectPreset(Number($("preset").value)));
    $("benchmark").addEventListener("change", () => { renderThresholds(); render(); });
    $("threshold").addEventListener("change", () => render());
    $("reset").addEventListener("click", () => selectPreset(presetIndex));
    $("export-toml").addEventListener("click", () => download(scenarioToml(), `${scenarioName()}.toml`, "application/toml"));
    $("export-csv").addEventListener("click", () => download(quantilesCsv(), `${scenarioName()}_arrival_quantiles.csv`, "text/csv"));
    markPresets();
    renderBenchmarks();
    renderThresholds();
    selectPreset(reference());
    Bokeh.set_log_level("warn");
    const ready = Object.entries(FIGURES).map(([key, item]) => Bokeh.embed.embed_item(item, `${key}-plot`).then(() => key));
    return Promise.all(ready).then(() => {
      const find = (name) => { for (const d of Bokeh.documents) { const m = d.get_model_by_name(name); if (m) return m; } return null; };
      figures = { cdf: find("cdf-source"), years: find("year-source") };
      render();
      document.body.dataset.ready = "true";
    });
  }

  return { init, scenarioToml, quantilesCsv, get settings() { return settings; }, get current() { return current; } };
})();

EXPLORER.init();
