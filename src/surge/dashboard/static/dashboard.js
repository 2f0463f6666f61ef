// What every page shares. Loaded with `defer` by base.html.
"use strict";
