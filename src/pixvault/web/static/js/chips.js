// A tag editor: chips plus a text input. The rules (how many, how long, what separates two)
// are the server's, from GET /api/config; tags.js applies them.

import { el } from "./dom.js";
import { addTags, uniqueTags } from "./tags.js";

/**
 * A chip list with a text input inside `container`. Enter or the separator (a comma) adds a
 * tag; Backspace in an empty input removes the last one. `onChange(tags)` runs after every
 * change.
 */
export function chipsInput(container, { inputId, rules, placeholder = "Add a tag", onChange }) {
  let tags = [];
  const list = el("ul", { cls: "chip-list" });
  const input = el("input", {
    attrs: {
      id: inputId,
      type: "text",
      placeholder,
      autocomplete: "off",
      maxlength: rules.maxLength,
    },
  });
  const hint = el("span", { cls: "chip-hint", attrs: { "aria-live": "polite" } });
  container.replaceChildren(list, input, hint);

  function render() {
    list.replaceChildren(
      ...tags.map((tag) =>
        el("li", { cls: "chip" }, [
          el("span", { text: tag }),
          el("button", {
            cls: "chip-remove",
            text: "×",
            attrs: { type: "button", "aria-label": `Remove tag ${tag}` },
            on: { click: () => remove(tag) },
          }),
        ]),
      ),
    );
  }

  function changed() {
    render();
    if (onChange) onChange([...tags]);
  }

  function add(raw) {
    const result = addTags(tags, raw, rules);
    const added = result.tags.length !== tags.length;
    if (added || result.problem) hint.textContent = result.problem;
    if (added) {
      tags = result.tags;
      changed();
    }
  }

  function takeTyped() {
    if (input.value.trim()) {
      add(input.value);
      input.value = "";
    }
  }

  function remove(tag) {
    tags = tags.filter((t) => t !== tag);
    changed();
    input.focus();
  }

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === rules.separator) {
      event.preventDefault();
      add(input.value);
      input.value = "";
    } else if (event.key === "Backspace" && !input.value && tags.length) {
      remove(tags[tags.length - 1]);
    }
  });
  // Leaving the field keeps what was typed, so a half-typed tag is not silently lost.
  input.addEventListener("blur", takeTyped);
  container.addEventListener("click", (event) => {
    if (event.target === container || event.target === list) input.focus();
  });

  return {
    input,
    get: () => {
      takeTyped();
      return [...tags];
    },
    set(next) {
      tags = uniqueTags(next);
      input.value = "";
      hint.textContent = "";
      render();
    },
  };
}
