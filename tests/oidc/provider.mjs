// A real OpenID Connect provider for the portal's sign-in tests: the certified
// `oidc-provider` package, with one test client and the accounts the test
// passes in. Its sign-in page takes an account's email address (no password:
// the provider's own sign-in is not what the tests are about) and gives the
// account's `amr`/`acr` to the ID token, as a provider that did or did not
// ask for a second factor would.
//
//   node tests/oidc/provider.mjs   (settings in the environment)
//   OIDC_TEST_PORT, OIDC_TEST_ISSUER, OIDC_TEST_CLIENT (JSON: client_id,
//   client_secret, redirect_uris, post_logout_redirect_uris),
//   OIDC_TEST_ACCOUNTS (JSON: {email: {email_verified, amr, acr, name}}),
//   OIDC_TEST_CLOCK_SKEW (seconds added to the provider's clock: a provider
//   whose clock is behind issues tokens that are already expired),
//   OIDC_TEST_AUDIENCE (the `aud` of its ID tokens instead of the client's id:
//   a provider that mixes up its clients).
import http from 'node:http';
import { URLSearchParams } from 'node:url';

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_TEST_PORT);
const issuer = process.env.OIDC_TEST_ISSUER || `http://127.0.0.1:${port}`;
const client = JSON.parse(process.env.OIDC_TEST_CLIENT);
const accounts = JSON.parse(process.env.OIDC_TEST_ACCOUNTS || '{}');
const skew = Number(process.env.OIDC_TEST_CLOCK_SKEW || 0);
if (skew) {
  const realNow = Date.now;
  Date.now = () => realNow() + skew * 1000;
}

const provider = new Provider(issuer, {
  clients: [{
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    ...client,
  }],
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  // amr and acr ride with the openid scope, as Entra ID and Okta send them unasked.
  claims: { openid: ['sub', 'amr', 'acr'], email: ['email', 'email_verified'], profile: ['name'] },
  // The ID token carries the claims itself, as Entra ID's and Okta's do.
  conformIdTokenClaims: false,
  // Cookies live long enough to outlast OIDC_TEST_CLOCK_SKEW; ID tokens are short.
  ttl: { IdToken: 300, AccessToken: 300, AuthorizationCode: 60, Session: 14400, Interaction: 3600, Grant: 14400 },
  cookies: { keys: ['provider-test-cookie-key'] },
  findAccount: async (ctx, id) => {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      // email_verified: null leaves the claim out, as Microsoft Entra ID does.
      claims: async () => ({
        sub: id, email: id, name: account.name || id,
        ...(account.email_verified === null ? {} : { email_verified: account.email_verified !== false }),
      }),
    };
  },
});
provider.proxy = false;

const audience = process.env.OIDC_TEST_AUDIENCE;
if (audience) {
  const issue = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = function issueForAnotherClient(options) {
    const real = this.client;
    this.client = new Proxy(real, {
      get(target, property) {
        if (property === 'clientId') return audience;
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    try {
      return issue.call(this, options);
    } finally {
      this.client = real;
    }
  };
}

function page(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><head><title>Test provider</title></head><body>${body}</body></html>`);
}

async function readForm(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return Object.fromEntries(new URLSearchParams(data));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'GET' && prompt.name === 'login') {
    return page(res, 200, `<h1>Test provider sign-in</h1>
      <form method="post" action="/interaction/${uid}/login">
        <label for="login">Email</label> <input id="login" name="login" autofocus>
        <button type="submit">Continue</button>
      </form>`);
  }
  if (req.method === 'POST' && req.url.endsWith('/login')) {
    const { login } = await readForm(req);
    const account = accounts[login];
    if (!account) return page(res, 200, '<p>No such test account.</p>');
    return provider.interactionFinished(req, res, {
      login: { accountId: login, amr: account.amr, acr: account.acr },
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    // The test client is trusted: consent is given at once.
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return page(res, 400, '<p>Unexpected step.</p>');
}

const callback = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => page(res, 500, `<p>${String(err)}</p>`));
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
