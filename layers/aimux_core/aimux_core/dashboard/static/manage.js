// Key and project management: tables with their actions, the create/edit dialogs, and the one showing of
// a new key's secret (held only in that dialog's input, cleared when it closes).

import { ApiError, api } from "./api.js";
import { DASH, count, empty, fill, h, table, time, usd } from "./dom.js";

let ui = null; // {refresh, say, fail}: set by setupManagement

const keyPath = (id) => `/admin/keys/${encodeURIComponent(id)}`;
const projectPath = (name) => `/admin/projects/${encodeURIComponent(name)}`;

/** Ask in the confirm dialog; resolves true when the operator confirms. */
export function confirmAction(text, confirmLabel) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

async function act(label, call) {
  try {
    const result = await call();
    ui.say(label);
    await ui.refresh();
    return result;
  } catch (error) {
    ui.fail(`${label} failed: ${error.message}`);
    return undefined;
  }
}

function limits(item) {
  const parts = [];
  if (item.rpm) parts.push(`${count(item.rpm)} rpm`);
  if (item.tpm) parts.push(`${count(item.tpm)} tpm`);
  if (item.budget_daily_usd !== null && item.budget_daily_usd !== undefined) parts.push(`${usd(item.budget_daily_usd)}/day`);
  if (item.budget_monthly_usd !== null && item.budget_monthly_usd !== undefined) parts.push(`${usd(item.budget_monthly_usd)}/month`);
  return parts.length ? parts.join(", ") : "none";
}

// ------------------------------------------------------------------------------------------------ keys

/** The project cell of a key: a menu that moves it (PATCH /admin/keys/{id}), or plain text without projects. */
function projectCell(key, name, projects) {
  if (projects === null) return h("td", { "data-field": "project" }, key.project || DASH);
  const names = [...new Set([...projects.map((p) => p.name), ...(key.project ? [key.project] : [])])].sort();
  const select = h("select", {
    "aria-label": `Project of key ${name}`, "data-field": "project",
    onchange: async () => {
      const project = select.value || null;
      const moved = await act(`Key ${name} moved to ${project || "no project"}`,
        () => api("PATCH", keyPath(key.id), { project }));
      if (moved === undefined) select.value = key.project || "";
    },
  }, h("option", { value: "" }, "(none)"), names.map((p) => h("option", { value: p, selected: p === key.project }, p)));
  return h("td", {}, select);
}

/** The keys table; `projects` (or null when they could not be read) feeds each key's project menu. */
export function renderKeys(keys, projects) {
  if (!keys.length) {
    fill("keys-body", empty("No keys yet: clients call without a key while the gateway runs with auth off."));
    return;
  }
  const rows = keys.map((key) => {
    const name = key.name || key.id;
    const toggle = key.disabled
      ? h("button", { type: "button", "aria-label": `Enable key ${name}`, onclick: () => act(`Key ${name} enabled`, () => api("POST", keyPath(key.id) + "/enable")) }, "Enable")
      : h("button", { type: "button", "aria-label": `Disable key ${name}`, onclick: () => act(`Key ${name} disabled`, () => api("POST", keyPath(key.id) + "/disable")) }, "Disable");
    const rotate = h("button", {
      type: "button", "aria-label": `Rotate key ${name}`,
      onclick: async () => {
        if (!(await confirmAction(`Rotate ${name}? Its current secret stops working at once.`, "Rotate"))) return;
        const answer = await act(`Key ${name} rotated`, () => api("POST", keyPath(key.id) + "/rotate"));
        if (answer) showSecret(answer);
      },
    }, "Rotate");
    const remove = h("button", {
      type: "button", class: "danger", "aria-label": `Delete key ${name}`,
      onclick: async () => {
        if (!(await confirmAction(`Delete ${name} for good? Clients using it are refused.`, "Delete key"))) return;
        await act(`Key ${name} deleted`, () => api("DELETE", keyPath(key.id)));
      },
    }, "Delete");
    return h("tr", { "data-key": key.id },
      h("th", { scope: "row" }, name),
      h("td", { class: "mono" }, key.id),
      projectCell(key, name, projects),
      h("td", {}, key.owner || DASH),
      h("td", { "data-field": "state" }, h("span", { class: key.disabled ? "badge bad" : "badge ok" }, key.disabled ? "disabled" : "active")),
      h("td", {}, limits(key)),
      h("td", {}, time(key.created_at)),
      h("td", { class: "actions-cell" }, toggle, rotate, remove));
  });
  fill("keys-body", table("API keys", ["Name", "Id", "Project", "Owner", "State", "Limits", "Created", "Actions"], rows, { class: "wide" }));
}

function showSecret(answer) {
  const secret = answer.api_key || answer.key;
  const dialog = document.getElementById("secret-dialog");
  const input = document.getElementById("secret-value");
  document.getElementById("secret-name").textContent = answer.name || answer.id;
  input.value = secret;
  dialog.addEventListener("close", () => { input.value = ""; }, { once: true });
  dialog.showModal();
  input.select();
}

function numberOrNull(form, name) {
  const raw = form.elements[name].value.trim();
  return raw === "" ? null : Number(raw);
}

function formError(form, message) {
  const box = form.querySelector(".form-error");
  box.textContent = message || "";
  box.hidden = !message;
}

function setupKeyDialog() {
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  document.getElementById("key-new").addEventListener("click", async () => {
    form.reset();
    formError(form, "");
    const select = form.elements.project;
    select.replaceChildren(h("option", { value: "" }, "(none)"));
    try {
      const { projects } = await api("GET", "/admin/projects");
      for (const project of projects) select.append(h("option", { value: project.name }, project.name));
    } catch {
      // projects unavailable: keys can still be created without one
    }
    dialog.showModal();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: form.elements.name.value.trim() };
    for (const field of ["project", "owner"]) {
      const value = form.elements[field].value.trim();
      if (value) body[field] = value;
    }
    for (const field of ["rpm", "tpm", "budget_daily_usd", "budget_monthly_usd"]) {
      const value = numberOrNull(form, field);
      if (value !== null) body[field] = value;
    }
    const models = form.elements.allowed_models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.allowed_models = models;
    try {
      const answer = await api("POST", "/admin/keys", body);
      dialog.close();
      showSecret(answer);
      ui.say(`Key ${answer.name} created`);
      await ui.refresh();
    } catch (error) {
      formError(form, error.message);
    }
  });
  document.getElementById("secret-copy").addEventListener("click", async () => {
    const input = document.getElementById("secret-value");
    try {
      await navigator.clipboard.writeText(input.value);
      ui.say("Secret copied");
    } catch {
      input.select();
      ui.say("Select the secret and copy it (the clipboard is not available here)");
    }
  });
  document.getElementById("secret-done").addEventListener("click", () => {
    document.getElementById("secret-value").value = ""; // at once; the close event clears it too (Escape)
    document.getElementById("secret-dialog").close();
  });
}

// ------------------------------------------------------------------------------------------------ projects

export function renderProjects(projects) {
  if (!projects.length) {
    fill("projects-body", empty("No projects yet. A project groups keys under shared limits and budgets."));
    return;
  }
  const rows = projects.map((project) => h("tr", { "data-project": project.name },
    h("th", { scope: "row" }, project.name),
    h("td", {}, project.description || DASH),
    h("td", {}, limits(project)),
    h("td", { class: "num", "data-field": "spend_today_usd" }, usd(project.spend_today_usd)),
    h("td", { class: "num", "data-field": "spend_month_usd" }, usd(project.spend_month_usd)),
    h("td", { class: "num", "data-field": "spend_held_usd" }, usd(project.spend_held_usd)),
    h("td", { class: "num", "data-field": "keys" }, count((project.keys || []).length)),
    h("td", { class: "actions-cell" },
      h("button", { type: "button", "aria-label": `Edit project ${project.name}`, onclick: () => openProject(project) }, "Edit"),
      h("button", { type: "button", class: "danger", "aria-label": `Delete project ${project.name}`, onclick: () => deleteProject(project) }, "Delete"))));
  fill("projects-body", table("Projects", ["Name", "Description", "Limits", "Spend today", "This month", "Held now", "Keys", "Actions"], rows, { class: "wide" }));
}

let editing = null; // the project being edited, or null for a new one

function openProject(project) {
  const dialog = document.getElementById("project-dialog");
  const form = document.getElementById("project-form");
  form.reset();
  formError(form, "");
  editing = project;
  document.getElementById("project-dialog-h").textContent = project ? `Edit project ${project.name}` : "New project";
  form.elements.name.readOnly = Boolean(project);
  if (project) {
    form.elements.name.value = project.name;
    form.elements.description.value = project.description || "";
    for (const field of ["rpm", "tpm", "budget_daily_usd", "budget_monthly_usd"]) {
      form.elements[field].value = project[field] === null || project[field] === undefined ? "" : project[field];
    }
  }
  dialog.showModal();
}

async function deleteProject(project) {
  const keys = (project.keys || []).length;
  if (!(await confirmAction(`Delete project ${project.name}?`, "Delete project"))) return;
  try {
    await api("DELETE", projectPath(project.name));
    ui.say(`Project ${project.name} deleted`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) {
      ui.fail(`Deleting ${project.name} failed: ${error.message}`);
      return;
    }
    const force = await confirmAction(`${error.message} Delete it anyway (its ${keys} key(s) keep working, without the project)?`, "Delete anyway");
    if (!force) return;
    await act(`Project ${project.name} deleted`, () => api("DELETE", projectPath(project.name) + "?force=true"));
    return;
  }
  await ui.refresh();
}

function setupProjectDialog() {
  const dialog = document.getElementById("project-dialog");
  const form = document.getElementById("project-form");
  document.getElementById("project-new").addEventListener("click", () => openProject(null));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { description: form.elements.description.value.trim() };
    for (const field of ["rpm", "tpm", "budget_daily_usd", "budget_monthly_usd"]) body[field] = numberOrNull(form, field);
    try {
      if (editing) {
        await api("PATCH", projectPath(editing.name), body);
        ui.say(`Project ${editing.name} saved`);
      } else {
        body.name = form.elements.name.value.trim();
        await api("POST", "/admin/projects", body);
        ui.say(`Project ${body.name} created`);
      }
      dialog.close();
      await ui.refresh();
    } catch (error) {
      formError(form, error.message);
    }
  });
}

export function setupManagement(callbacks) {
  ui = callbacks;
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  setupKeyDialog();
  setupProjectDialog();
}
