// The send-event form checks its JSON as it is typed; the server checks it again on send.
(function () {
  const body = document.getElementById("event-body");
  const check = document.getElementById("json-check");
  const button = body.form.querySelector("button");
  function validate() {
    let problem = "";
    try {
      const value = JSON.parse(body.value);
      const events = Array.isArray(value) ? value : [value];
      if (events.length === 0) problem = "The list is empty.";
      for (const event of events) {
        if (typeof event !== "object" || event === null || Array.isArray(event)) {
          problem = "Each event must be an object.";
        } else if (typeof event.name !== "string" || event.name === "") {
          problem = "Each event needs a name.";
        }
      }
    } catch (error) {
      problem = "Not JSON yet: " + error.message;
    }
    check.textContent = problem || "Valid JSON.";
    check.className = problem ? "hint bad" : "hint good";
    button.disabled = problem !== "";
  }
  body.addEventListener("input", validate);
  validate();
})();
