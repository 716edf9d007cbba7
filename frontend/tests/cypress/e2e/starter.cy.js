// The starter page through the test stack's nginx: it loads over TLS, shows
// the starter's content, and its script's call to the backend (/api/status)
// comes back with redis's PONG.
describe("the starter page", () => {
  it("loads over HTTPS and shows what the backend says through nginx", () => {
    cy.visit("/");
    cy.location("protocol").should("eq", "https:");
    cy.title().should("eq", "dtx website starter");
    cy.contains("h1", "dtx website starter");
    cy.get("#backend", { timeout: 10000 }).should("contain.text", "backend answers, redis says PONG");
    cy.get("#visits").invoke("text").should("match", /^\d+$/);
    cy.screenshot("starter");
  });
});
