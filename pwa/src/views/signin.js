// Sign in once, online. After a revoked or expired token the device keeps its visits and
// only asks for the password again; signing in as someone else wipes the device first.
import { h, replace, confirmDialog } from "../ui.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { session, signIn, signOut, previousUser } from "../session.js";
import { sync } from "../outbox.js";

export async function signInView(root) {
  const before = await previousUser();
  const unsynced = await store.unsyncedCount();
  const error = h("p", { class: "error", role: "alert", id: "signin-error" });
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true,
    autocapitalize: "none", value: before?.username || "" });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "primary" }, t("signin.submit"));
  const form = h("form", { class: "card signin", novalidate: true },
    h("h1", {}, t("signin.title")),
    session.needsSignIn ? h("p", { class: "notice", "data-testid": "signin-again" },
      t(session.needsSignIn === "token-expired" ? "signin.expired" : "signin.revoked"), " ",
      unsynced ? t("signin.kept", { n: unsynced }) : "") : h("p", {}, t("signin.intro")),
    h("label", { for: "username" }, t("signin.username")), username,
    h("label", { for: "password" }, t("signin.password")), password,
    error, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!username.value.trim() || !password.value) {
      error.textContent = t("signin.missing");
      return;
    }
    if (before && before.username !== username.value.trim() && unsynced) {
      if (!(await confirmDialog(t("signin.other_user", { n: unsynced, user: before.username }), t("signin.wipe_and_continue"), t("cancel")))) return;
    }
    button.disabled = true;
    try {
      await signIn(username.value, password.value);
      sync();
    } catch (e) {
      error.textContent = e.offline ? t("signin.offline") : e.code === "account-locked" ? t("signin.locked")
        : e.status === 401 ? t("signin.wrong") : t("error.server", { detail: e.message });
      password.value = "";
    } finally {
      button.disabled = false;
    }
  });
  const parts = [form];
  if (session.needsSignIn) {
    parts.push(h("p", { class: "center" }, h("button", { type: "button", class: "secondary", onclick: async () => {
      const message = unsynced ? t("signout.warn_unsynced", { n: unsynced }) : t("signout.confirm");
      if (await confirmDialog(message, t("signout.do"), t("cancel"))) await signOut();
    } }, t("signin.wipe"))));
  }
  replace(root, parts);
  (before ? password : username).focus();
}
